/**
 * The scenario language of {@code SCENARIO.md}: lexer, statement schemas, parser and syntax tree.
 *
 * <p>Pure Java with no dependency on the rest of the model; the runner executes the {@link
 * org.tdplab.mmu.scenario.lang.Script} this package produces. Entry points: {@link
 * org.tdplab.mmu.scenario.lang.Parser#parse(java.nio.file.Path)} and
 * {@link org.tdplab.mmu.scenario.lang.Parser#parse(String, String)}, which return every error of a file at once.
 * Private to the bundle (not exported). The core forms are {@link org.tdplab.mmu.scenario.lang.CoreVerbs};
 * backend verbs arrive as data through a {@link org.tdplab.mmu.scenario.lang.VerbCatalog}.
 *
 * <p>Decisions where the contract is silent:
 * <ul>
 * <li><b>Lines and tokens.</b> {@code \n} or {@code \r\n} end a line; a UTF-8 byte order mark is ignored; any
 *     white space or control character other than space and tab is an error at its column. Columns count
 *     characters from 1; a tab is one column. Bytes that are not UTF-8 are a parse error.</li>
 * <li><b>Numbers</b> are unsigned 64-bit values held in a {@code long} (compare with
 *     {@link Long#compareUnsigned}). A leading zero does not mean octal; {@code +}, {@code _}, {@code 0b}, fractions
 *     and negative numbers are errors; suffixes {@code K M G T} in either case, also after hex
 *     ({@code 0x2M}).</li>
 * <li><b>Levels</b> are written as page sizes; any number spelling of 4K, 2M or 1G is accepted ({@code 4096},
 *     {@code 0x200000}, {@code 2m}). The kernel's level numbers {@code 1|2|3} are rejected, with a hint, because
 *     {@code level=2} reads as a size of two bytes. {@code accept} takes {@code 4K|2M} only, as written.</li>
 * <li><b>Words are case-sensitive</b>: verbs, kinds, option keys, flags, errno and exception names (a misspelling
 *     close to a known word gets a "did you mean" and does not also count as missing).</li>
 * <li><b>Arguments.</b> Positional arguments are the first bare words after the verb (and its kind words); later
 *     bare words are flags. Options and flags may come in any order. The same flag twice is harmless; the same
 *     option twice is an error. An option needs a non-empty value.</li>
 * <li><b>Values checked at parse time</b> are the ones the contract spells out as syntax: slot {@code flags} items
 *     ({@code gmem readonly dirty_log}), levels, {@code on|off}, {@code direct|mirror}, {@code yes|no}, errno
 *     names (the contract's ten plus {@code ENOMEM ENOSPC E2BIG}), exception names ({@code VE VC PF}, plus
 *     {@code GP MC}), stat operators ({@code ==} is accepted as {@code =}) and {@code run} workloads (the five of
 *     the contract plus any a catalog adds). Semantic values are left to the runner so that a scenario can
 *     {@code expect} the error: the VM {@code type} (ENODEV), {@code gpaw} (48|52), alignment, stat names.</li>
 * <li><b>Free options</b> ({@code [k=v…]} of {@code vm.create} and {@code run}) are kept as written;
 *     {@link org.tdplab.mmu.scenario.lang.Value#number()} parses one on demand.</li>
 * <li><b>VM names</b>: letters, digits, {@code _ . -}, not starting with {@code . -}.</li>
 * <li><b>Expectations.</b> {@code expect error|exit|exception|value} need a statement before them (other
 *     {@code expect} lines, comments and blank lines may stand between); {@code exit} and {@code exception} must
 *     follow a {@code guest} statement, {@code value} a {@code guest … read} or {@code exec}. State expectations
 *     ({@code spte}, {@code stat}, {@code vm}, {@code dirty}) may stand anywhere, also first. After a malformed
 *     statement its expectations are not checked again.</li>
 * <li><b>Backend verbs</b> must be {@code NS.VERB} and may not redefine a core verb; they may add verbs to a core
 *     namespace.</li>
 * </ul>
 */
package org.tdplab.mmu.scenario.lang;
