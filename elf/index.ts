// Public surface of the ELF reader. Pure: it takes bytes and never touches the file system.
export * from './constants.js';
export { ElfFile } from './elf-file.js';
export type { ElfProgramHeader, ElfRelocation, ElfSection, ElfSymbol } from './elf-file.js';
export { parseNotes } from './notes.js';
export type { ElfNote } from './notes.js';
export { StringTable } from './string-table.js';
