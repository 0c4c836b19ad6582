/**
 * The scenario language of {@code SCENARIO.md}: lexer, statement schemas, parser and syntax tree.
 *
 * <p>Pure Java with no dependency on the rest of the model; the runner executes the {@link
 * org.tdplab.mmu.scenario.lang.Script} this package produces. Entry point: {@link
 * org.tdplab.mmu.scenario.lang.Parser#parse(String, String)}. Private to the bundle (not exported).
 *
 * <p>Decisions where the contract is silent (see also each type's documentation):
 * <ul>
 * <li>Numbers are unsigned 64-bit values held in a {@code long} (compare with {@link Long#compareUnsigned}).
 *     A leading zero does not mean octal; {@code +}, {@code _}, {@code 0b} and negative numbers are errors.</li>
 * <li>Levels are written as page sizes; any number spelling of 4K, 2M or 1G is accepted ({@code 4096},
 *     {@code 0x200000}, {@code 2m}); the kernel's level numbers {@code 1|2|3} are rejected because
 *     {@code level=2} reads as a size of two bytes.</li>
 * <li>Columns count UTF-16 characters from 1; a tab counts as one column.</li>
 * <li>Positional arguments are the first bare words after the verb (and its kind words); later bare words
 *     are flags. Options and flags may come in any order. The same flag twice is harmless; the same option
 *     twice is an error.</li>
 * <li>{@code expect error|exit|exception|value} need a statement before them (other {@code expect} lines,
 *     comments and blank lines may stand between); {@code exit} and {@code exception} must follow a
 *     {@code guest} statement and {@code value} a {@code guest … read} or {@code exec}. State expectations
 *     ({@code spte}, {@code stat}, {@code vm}, {@code dirty}) may stand anywhere, also first.</li>
 * </ul>
 */
package org.tdplab.mmu.scenario.lang;
