package org.tdplab.mmu.scenario.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.run.Session;

class CompletionTest {
    private final VmManager manager = ShellFixtures.manager();
    private final Session session = new Session(manager);
    private final Completion completion = new Completion(new Completion.Context(session.parser(),
            List.of("td", "vm"), manager.options(), vm -> vm.equals("td") ? Set.of("pages_4k", "TDH.MEM.PAGE.AUG")
                    : Set.of(), Help.COMMANDS.stream().map(Help.Command::name).toList()));

    /** The candidate words for {@code line}, whose last word is the one being typed. */
    private List<String> tab(String line) {
        List<String> words = Arrays.asList(line.split(" ", -1));
        return completion.complete(words.get(0), words.subList(1, words.size() - 1), words.get(words.size() - 1))
                .stream().map(Completion.Candidate::value).toList();
    }

    @Test
    void vmNamesWhereAStatementTakesAVm() {
        assertEquals(List.of("td", "vm"), tab("attr "));
        assertEquals(List.of("td"), tab("stats t"));
        assertEquals(List.of("td", "vm"), tab("do check "));
    }

    @Test
    void vmTypesAndEachTypesOwnOptions() {
        assertEquals(List.of("type="), tab("create td ty"));
        assertEquals(List.of("type=default", "type=snp", "type=sw_protected", "type=tdx"), tab("create td type="));
        List<String> tdx = tab("create td type=tdx ");
        assertTrue(tdx.containsAll(List.of("vcpus=", "gpaw=", "module=", "sept_ve_disable=", "busy_rate=", "seed=")),
                tdx.toString());
        assertEquals(List.of("module=1.0", "module=1.5"), tab("create td type=tdx module="));
        assertEquals(List.of("slot_zap_all=on", "slot_zap_all=off"), tab("create vm type=default slot_zap_all="));
        assertEquals(List.of("gpaw=48", "gpaw=52"), tab("create td gpaw="));
    }

    @Test
    void optionsNotWrittenYetFlagsAndValues() {
        assertEquals(List.of("size=", "flags=", "backing="), tab("slot td 0 gpa=0 "));
        assertEquals(List.of("flags=gmem", "flags=readonly", "flags=dirty_log"), tab("slot td 0 flags="));
        assertEquals(List.of("backing=4K", "backing=2M", "backing=1G"), tab("slot td 0 backing="));
        assertEquals(List.of("add", "delete", "move", "log", "td", "vm"), tab("slot "));
        assertEquals(List.of("on", "off"), tab("slot log td 0 o"));
        assertEquals(List.of("private", "shared"), tab("attr td gpa=0 size=4K "));
    }

    @Test
    void guestModesAndTheOptionsOfTheModeWritten() {
        assertTrue(tab("access td vcpu=0 ").containsAll(List.of("read", "write", "exec", "convert", "accept")));
        List<String> accept = tab("access td vcpu=0 accept ");
        assertTrue(accept.containsAll(List.of("gpa=", "size=", "level=")) && !accept.contains("value="),
                accept.toString());
        assertEquals(List.of("level=4K", "level=2M"), tab("access td vcpu=0 accept level="));
    }

    @Test
    void statementsExpectationsCountersAndCommands() {
        assertTrue(tab("do ").containsAll(List.of("vm.create", "tdx.finalize", "snp.launch_update", "expect")),
                tab("do ").toString());
        assertEquals(List.of("tdx.finalize"), tab("do tdx.fin"));
        assertEquals(List.of("tdx.fail", "tdx.finalize"), tab("do tdx.f"));
        assertTrue(tab("do expect ").containsAll(List.of("error", "exit", "stat", "spte", "vm", "dirty")));
        assertEquals(List.of("memory_fault", "mmio", "fail_entry"), tab("do expect exit "));
        assertEquals(List.of("EINVAL", "EIO"), tab("do expect error EI"));
        assertEquals(List.of("TDH.MEM.PAGE.AUG"), tab("do expect stat td T"));
        assertEquals(List.of("TDH.MEM.PAGE.AUG"), tab("stats td T"));
        assertEquals(List.of("create"), tab("help cr"));
        assertEquals(List.of("demand_paging", "dirty_log"), tab("do run td d"));
    }

    @Test
    void aStatementTypedAsInAScenarioFile() {
        assertEquals(List.of("type="), tab("vm.create td ty"));
        assertEquals(List.of("flags=gmem", "flags=readonly", "flags=dirty_log"), tab("slot.add td 0 flags="));
        assertEquals(List.of("td", "vm"), tab("tdx.finalize "));
        assertEquals(List.of("memory_fault", "mmio", "fail_entry"), tab("expect exit "));
        assertTrue(tab("guest td vcpu=0 ").containsAll(List.of("read", "write", "accept")));
        assertEquals(List.of(), tab("no.such td "));
    }

    @Test
    void filesAndFlagsForRun() {
        assertTrue(tab("run --ch").contains("--checked"));
        assertTrue(tab("run ../scenarios/tut").contains("../scenarios/tutorial-td.scn"), tab("run ../scenarios/"
                + "tut").toString());
        assertEquals(List.of(), tab("run /no/such/dir/x"));
    }

    @Test
    void nothingForWhatCannotBeGuessed() {
        assertEquals(List.of(), tab("slot td "));
        assertEquals(List.of(), tab("create td vcpus="));
        assertEquals(List.of(), tab("vms "));
    }
}
