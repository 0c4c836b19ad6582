package org.tdplab.mmu.scenario.lang;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.tdplab.mmu.scenario.lang.Fixtures.CORE;
import static org.tdplab.mmu.scenario.lang.Fixtures.error;
import static org.tdplab.mmu.scenario.lang.Fixtures.errors;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Each kind of malformed line, with its exact {@code FILE:LINE:COL: message}. */
class ErrorsTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '~', value = {
            // unknown verbs
            "zapp vm0 ~ t.scn:1:1: unknown verb 'zapp' (verbs: age, check, expect, guest, prefault, run, test_age, zap; namespaces: attr, dirty, gmem, notify, slot, snp, tdx, vm)",
            "slot.ad vm0 ~ t.scn:1:1: unknown verb 'slot.ad' (slot verbs: slot.add, slot.delete, slot.log, slot.move)",
            "tdx.fnalize td ~ t.scn:1:1: unknown verb 'tdx.fnalize' (tdx verbs: tdx.finalize, tdx.init_mem_region)",
            "foo.bar x ~ t.scn:1:1: unknown verb 'foo.bar': no namespace 'foo' (namespaces: attr, dirty, gmem, notify, slot, snp, tdx, vm)",
            "Check vm0 ~ t.scn:1:1: unknown verb 'Check' (verbs: age, check, expect, guest, prefault, run, test_age, zap; namespaces: attr, dirty, gmem, notify, slot, snp, tdx, vm)",
            "'   gpa=0' ~ t.scn:1:4: unknown verb 'gpa=0' (verbs: age, check, expect, guest, prefault, run, test_age, zap; namespaces: attr, dirty, gmem, notify, slot, snp, tdx, vm)",
            // positionals
            "check ~ t.scn:1:1: check: missing VM (usage: check VM)",
            "slot.delete vm0 ~ t.scn:1:1: slot.delete: missing ID (usage: slot.delete VM ID)",
            "slot.delete vm0 1 2 ~ t.scn:1:19: slot.delete: unexpected argument '2' (usage: slot.delete VM ID)",
            "slot.delete vm0 one ~ t.scn:1:17: slot.delete: ID: bad number 'one'",
            "slot.delete vm0 -1 ~ t.scn:1:17: slot.delete: ID: negative number '-1' (numbers are unsigned)",
            "check vm:0 ~ t.scn:1:7: check: VM: bad name 'vm:0' (letters, digits, '_', '.', '-')",
            "check -vm ~ t.scn:1:7: check: VM: bad name '-vm' (letters, digits, '_', '.', '-')",
            "vm.destroy vm0 the ~ t.scn:1:16: vm.destroy: unexpected argument 'the' (usage: vm.destroy VM)",
            // options
            "slot.add vm0 1 gpa=0 sise=4K ~ t.scn:1:22: slot.add: unknown option 'sise' (did you mean 'size'?)",
            "slot.add vm0 1 gpa=0 size=4K backng=2M ~ t.scn:1:30: slot.add: unknown option 'backng' (did you mean 'backing'?)",
            "slot.add vm0 1 gpa=0 size=4K extra=2M ~ t.scn:1:30: slot.add: unknown option 'extra' (options: gpa, size, flags, backing)",
            "check vm0 full=yes ~ t.scn:1:11: check: unknown option 'full' (no options)",
            "zap vm0 gpa=0 size=4K gpa=0x1000 ~ t.scn:1:23: zap: duplicate option 'gpa'",
            "zap vm0 gpa=0 size= ~ t.scn:1:15: zap: option 'size' has no value (write size=VALUE, without spaces)",
            "zap vm0 gpa=0x1g000 size=4K ~ t.scn:1:9: zap: gpa: bad number '0x1g000'",
            "zap vm0 gpa=0x10000000000000000 size=4K ~ t.scn:1:9: zap: gpa: number '0x10000000000000000' does not fit in 64 bits",
            "zap vm0 gpa=0 size=-4K ~ t.scn:1:15: zap: size: negative number '-4K' (numbers are unsigned)",
            "zap vm0 gpa=0 ~ t.scn:1:1: zap: missing required option size=S",
            "vm.create vm0 ~ t.scn:1:1: vm.create: missing required option type=T",
            "vm.create vm0 type=tdx vcpus=four ~ t.scn:1:24: vm.create: vcpus: bad number 'four'",
            "vm.create vm0 type=tdx module= ~ t.scn:1:24: vm.create: option 'module' has no value (write module=VALUE, without spaces)",
            "vm.create vm0 type=tdx a=1 a=2 ~ t.scn:1:28: vm.create: duplicate option 'a'",
            "vm.create vm0 type=a,b ~ t.scn:1:15: vm.create: type: bad word 'a,b'",
            "slot.add vm0 1 gpa=0 size=4K flags=gmem,dirtylog ~ t.scn:1:30: slot.add: flags: unknown item 'dirtylog' (gmem, readonly or dirty_log)",
            "slot.add vm0 1 gpa=0 size=4K flags=gmem,,readonly ~ t.scn:1:30: slot.add: flags: bad list 'gmem,,readonly' (empty item)",
            "slot.add vm0 1 gpa=0 size=4K backing=8K ~ t.scn:1:30: slot.add: backing: bad level '8K' (4K, 2M or 1G)",
            "slot.add vm0 1 gpa=0 size=4K backing=2 ~ t.scn:1:30: slot.add: backing: bad level '2' (4K, 2M or 1G; a level is written as its page size)",
            "slot.add vm0 1 gpa=0 size=4K backing=huge ~ t.scn:1:30: slot.add: backing: bad level 'huge' (4K, 2M or 1G)",
            "slot.log vm0 1 on eager_split=yes ~ t.scn:1:19: slot.log: eager_split: bad value 'yes' (on or off)",
            "dirty.clear vm0 1 size=4K ~ t.scn:1:19: dirty.clear: options gpa and size go together (missing gpa)",
            "run vm0 demand_paging gpa=0 size=1G ~ t.scn:1:1: run: missing required option vcpus=N",
            "run vm0 paging gpa=0 size=1G vcpus=1 ~ t.scn:1:9: run: WORKLOAD: bad value 'paging' (demand_paging, dirty_log, conversions, memslot_stress or access_tracking)",
            // flags
            "attr.set vm0 gpa=0 size=4K ~ t.scn:1:1: attr.set: missing one of private|shared",
            "attr.set vm0 gpa=0 size=4K private shared ~ t.scn:1:36: attr.set: 'private' and 'shared' exclude each other",
            "attr.set vm0 gpa=0 size=4K privat ~ t.scn:1:28: attr.set: unknown flag 'privat' (did you mean 'private'?)",
            "attr.set vm0 gpa=0 size=4K PRIVATE ~ t.scn:1:28: attr.set: unknown flag 'PRIVATE' (did you mean 'private'?)",
            "attr.set vm0 gpa=0 size=4K private sharde ~ t.scn:1:36: attr.set: unknown flag 'sharde' (did you mean 'shared'?)",
            "attr.set private gpa=0 size=4K ~ t.scn:1:1: attr.set: missing one of private|shared ('private' was taken as VM; is an argument missing?)",
            "slot.log vm0 1 ~ t.scn:1:1: slot.log: missing one of on|off",
            "slot.log vm0 1 on off ~ t.scn:1:19: slot.log: 'on' and 'off' exclude each other",
            "zap vm0 gpa=0 size=4K private ~ t.scn:1:23: zap: unexpected argument 'private' (usage: zap VM gpa=A size=S)",
            "guest vm0 vcpu=0 gpa=0 ~ t.scn:1:1: guest: missing one of read|write|exec|convert|accept",
            "guest vm0 vcpu=0 jump gpa=0 ~ t.scn:1:18: guest: unknown flag 'jump' (one of read|write|exec|convert|accept goes here)",
            "guest write vm0 vcpu=0 gpa=0 ~ t.scn:1:1: guest: missing one of read|write|exec|convert|accept ('write' was taken as VM; is an argument missing?)",
            "vm.create vm0 type=default\\nexpect vm vm0 zombie ~ t.scn:2:15: expect vm: unknown flag 'zombie' (one of bugged|alive|dead goes here)",
            "guest read vcpu=0 gpa=0 ~ t.scn:1:1: guest: missing one of read|write|exec|convert|accept ('read' was taken as VM; is an argument missing?)",
            "guest vm0 vcpu=0 private gpa=0 ~ t.scn:1:1: guest: missing one of read|write|exec|convert|accept",
            "guest vm0 vcpu=0 raed gpa=0 ~ t.scn:1:18: guest: unknown flag 'raed' (did you mean 'read'?)",
            "guest vm0 vcpu=0 covnert shared gpa=0 size=4K ~ t.scn:1:18: guest: unknown flag 'covnert' (did you mean 'convert'?)",
            "guest vm0 vcpu=0 read write gpa=0 ~ t.scn:1:23: guest: 'read' and 'write' exclude each other",
            "guest vm0 vcpu=0 read convert gpa=0 ~ t.scn:1:23: guest: 'read' and 'convert' exclude each other",
            "guest vm0 vcpu=0 read gpa=0 private shared ~ t.scn:1:37: guest: 'private' and 'shared' exclude each other",
            "guest vm0 read gpa=0 ~ t.scn:1:1: guest: missing required option vcpu=N",
            "guest vm0 vcpu=0 read gpa=0 level=2M ~ t.scn:1:29: guest: option 'level' is not valid with read (only with accept)",
            "guest vm0 vcpu=0 accept gpa=0 size=4K private ~ t.scn:1:39: guest: 'private' is not valid with accept (only with read|write|exec|convert)",
            "guest vm0 vcpu=0 accept gpa=0 size=4K value=1 ~ t.scn:1:39: guest: option 'value' is not valid with accept (only with read|write|exec)",
            "guest vm0 vcpu=0 accept gpa=0 size=4K level=1G ~ t.scn:1:39: guest: level: bad level '1G' (4K or 2M)",
            "guest vm0 vcpu=0 convert gpa=0 size=4K ~ t.scn:1:1: guest: missing one of private|shared",
            "guest vm0 vcpu=0 convert private gpa=0 ~ t.scn:1:1: guest: missing required option size=S",
            "guest vm0 vcpu=0 read gpa=0 measure ~ t.scn:1:29: guest: unknown flag 'measure' (flags: read, write, exec, private, shared)",
            // expectations
            "expect ~ t.scn:1:1: expect: missing kind (dirty, error, exception, exit, remaining, result, spte, stat, value or vm)",
            "expect errors EINVAL ~ t.scn:1:8: expect: unknown kind 'errors' (dirty, error, exception, exit, remaining, result, spte, stat, value or vm)",
            "check vm0\\nexpect exit ~ t.scn:2:1: expect exit: missing kind (fail_entry, memory_fault or mmio)",
            "check vm0\\nexpect exit memfault gpa=0 ~ t.scn:2:13: expect exit: unknown kind 'memfault' (fail_entry, memory_fault or mmio)",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exit fail_entry reason=minus1 ~ t.scn:2:24: expect exit fail_entry: reason: bad number 'minus1'",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exit fail_entry reason= ~ t.scn:2:24: expect exit fail_entry: option 'reason' has no value (write reason=VALUE, without spaces)",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exit fail_entry reason=0x10000000000000000 ~ t.scn:2:24: expect exit fail_entry: reason: number '0x10000000000000000' does not fit in 64 bits",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exit fail_entry reason=-1 ~ t.scn:2:24: expect exit fail_entry: reason: negative number '-1' (numbers are unsigned)",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exit fail_entry gpa=0 ~ t.scn:2:24: expect exit fail_entry: unknown option 'gpa' (options: reason)",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exit fail_entry SVM_EXIT_ERR ~ t.scn:2:24: expect exit fail_entry: unexpected argument 'SVM_EXIT_ERR' (usage: expect exit fail_entry [reason=R])",
            "check vm0\\nexpect error ~ t.scn:2:1: expect error: missing NAME (usage: expect error NAME)",
            "check vm0\\nexpect error EWHATEVER ~ t.scn:2:14: expect error: NAME: bad value 'EWHATEVER' (EINVAL, EEXIST, ENOENT, EFAULT, EIO, EAGAIN, EBUSY, ENODEV, ENOTSUP, EPERM, ENOMEM, ENOSPC or E2BIG)",
            "check vm0\\nexpect error einval ~ t.scn:2:14: expect error: NAME: bad value 'einval' (EINVAL, EEXIST, ENOENT, EFAULT, EIO, EAGAIN, EBUSY, ENODEV, ENOTSUP, EPERM, ENOMEM, ENOSPC or E2BIG)",
            "check vm0\\nexpect error EINVAL EIO ~ t.scn:2:21: expect error: unexpected argument 'EIO' (usage: expect error NAME)",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exception #VE ~ t.scn:2:1: expect exception: missing NAME (usage: expect exception NAME) ('#' starts a comment)",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exception UD ~ t.scn:2:18: expect exception: NAME: bad value 'UD' (VE, VC, PF, GP or MC)",
            "guest vm0 vcpu=0 read gpa=0\\nexpect value ~ t.scn:2:1: expect value: missing V (usage: expect value V)",
            "guest vm0 vcpu=0 read gpa=0\\nexpect value zero ~ t.scn:2:14: expect value: V: bad number 'zero'",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exit memory_fault gpa=0 size=4K ~ t.scn:2:1: expect exit memory_fault: missing one of private|shared",
            "guest vm0 vcpu=0 read gpa=0\\nexpect exit mmio gpa=0 size=4K ~ t.scn:2:24: expect exit mmio: unknown option 'size' (options: gpa)",
            "expect spte vm0 gpa=0 ~ t.scn:1:1: expect spte: missing one of present|absent",
            "expect spte vm0 gpa=0 present root=shared ~ t.scn:1:31: expect spte: root: bad value 'shared' (direct or mirror)",
            "expect spte vm0 gpa=0 present writable=true ~ t.scn:1:31: expect spte: writable: bad value 'true' (yes or no)",
            "expect spte vm0 gpa=0 present level=3 ~ t.scn:1:31: expect spte: level: bad level '3' (4K, 2M or 1G; a level is written as its page size)",
            "expect stat vm0 pages_4k => 1 ~ t.scn:1:26: expect stat: OP: bad value '=>' (=, !=, <, <=, > or >=)",
                        "expect stat vm0 pages_4k ~ t.scn:1:1: expect stat: missing OP (usage: expect stat VM NAME OP N)",
            "expect stat vm0 pages_4k = -1 ~ t.scn:1:28: expect stat: N: negative number '-1' (numbers are unsigned)",
            "expect vm vm0 buggy ~ t.scn:1:15: expect vm: unknown flag 'buggy' (did you mean 'bugged'?)",
            "expect vm vm0 bugged alive ~ t.scn:1:22: expect vm: 'bugged' and 'alive' exclude each other",
            "expect dirty vm0 1 ~ t.scn:1:1: expect dirty: missing required option count=N",
            "expect dirty vm0 1 gpa=0 ~ t.scn:1:20: expect dirty: option 'gpa' needs set|clear",
                        "expect dirty vm0 1 gpa=0 set clear ~ t.scn:1:30: expect dirty: 'set' and 'clear' exclude each other",
            "expect dirty vm0 1 gpa=0 count=1 clear ~ t.scn:1:26: expect dirty: option 'count' is not valid with clear",
    })
    void message(String text, String expected) {
        assertEquals(expected, error(text.replace("\\n", "\n")));
    }

    @Test
    void allErrorsOfAFileInOrder() {
        String text = String.join("\n",
                "vm.create vm0 type=tdx",
                "slot.add vm0 x gpa=0xZZ size=2M bogus=1", // three errors on one line
                "# fine",
                "zap vm0 gpa=0 size=4K",
                "frobnicate vm0",
                "",
                "attr.set vm0 gpa=0 size=4K private shared",
                "check vm0");
        ParseResult r = CORE.parse("dir/a.scn", text);
        assertFalse(r.ok());
        assertEquals(List.of(
                "dir/a.scn:2:14: slot.add: ID: bad number 'x'",
                "dir/a.scn:2:16: slot.add: gpa: bad number '0xZZ'",
                "dir/a.scn:2:33: slot.add: unknown option 'bogus' (options: gpa, size, flags, backing)",
                "dir/a.scn:5:1: unknown verb 'frobnicate' (verbs: age, check, expect, guest, prefault, run, test_age, zap; namespaces: attr, dirty, gmem, notify, slot, vm)",
                "dir/a.scn:7:36: attr.set: 'private' and 'shared' exclude each other"),
                r.errors().stream().map(ParseException::getMessage).toList());
        assertEquals(String.join("\n", r.errors().stream().map(ParseException::getMessage).toList()), r.report());
        ParseException first = r.errors().get(0);
        assertEquals("dir/a.scn", first.file());
        assertEquals(2, first.line());
        assertEquals(14, first.column());
        assertEquals("slot.add: ID: bad number 'x'", first.reason());
        // nothing of a malformed file is handed out to run
        assertSame(first, assertThrows(ParseException.class, r::script));
    }

    @Test
    void oneMistakeMayMakeTwoErrors() {
        assertEquals(List.of("t.scn:1:1: expect stat: missing N (usage: expect stat VM NAME OP N)",
                "t.scn:1:26: expect stat: OP: bad value '>=1' (=, !=, <, <=, > or >=)"),
                errors("expect stat vm0 pages_4k >=1"));
        assertEquals(List.of("t.scn:1:1: expect stat: missing NAME (usage: expect stat VM NAME OP N)",
                "t.scn:1:17: expect stat: unknown option 'pages_4k' (no options: a comparison is written with spaces, "
                        + "'pages_4k = 0')"),
                errors("expect stat vm0 pages_4k=0"));
        assertEquals(List.of("t.scn:1:1: expect dirty: missing required option gpa=A",
                "t.scn:1:20: expect dirty: option 'count' is not valid with set"),
                errors("expect dirty vm0 1 count=1 set"));
        // a misspelt mode word is one mistake, reported once
        assertEquals(List.of("t.scn:1:15: expect vm: unknown flag 'daed' (did you mean 'dead'?)"),
                errors("expect vm vm0 daed"));
    }

    @Test
    void missingComesBeforeTheTokensOfItsLine() {
        assertEquals(List.of("t.scn:1:1: zap: missing required option size=S",
                "t.scn:1:9: zap: unknown option 'sz' (options: gpa, size)"), errors("zap vm0 sz=4K gpa=0"));
    }

    @Test
    void backendVerbsAreUnknownWithoutTheirCatalog() {
        assertEquals(List.of("t.scn:1:1: unknown verb 'tdx.finalize': no namespace 'tdx' (namespaces: attr, dirty, "
                + "gmem, notify, slot, vm)"), errors(CORE, "tdx.finalize td"));
    }

    @Test
    void invalidUtf8() throws Exception {
        java.nio.file.Path f = java.nio.file.Files.createTempFile("bad", ".scn");
        try {
            java.nio.file.Files.write(f, new byte[] { 'c', 'h', 'e', 'c', 'k', ' ', 'v', 'm', '0', '\n', 'z', 'a',
                    'p', ' ', (byte) 0xC3, (byte) 0x28 });
            ParseResult r = CORE.parse(f);
            assertEquals(List.of(f + ":2:5: not valid UTF-8 text"),
                    r.errors().stream().map(ParseException::getMessage).toList());
        } finally {
            java.nio.file.Files.delete(f);
        }
    }
}
