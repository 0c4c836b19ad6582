package org.tdplab.mmu.scenario.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.scenario.cli.ReplayCommand;
import org.tdplab.mmu.scenario.cli.RunCommand;
import org.tdplab.mmu.scenario.run.Session;
import org.tdplab.mmu.tdp.shell.CoreCommands;

class HelpTest {
    private final VmManager manager = ShellFixtures.manager();
    private final Help help = new Help(new Session(manager).parser(), manager.options());

    @Test
    void aStatementCommandShowsItsUsageOptionsAndAnExample() {
        List<String> page = help.page(Help.command("create").orElseThrow());
        assertEquals("create VM type=T [vcpus=N] [gpaw=48|52] [k=v…]", page.get(0));
        String text = String.join("\n", page);
        assertTrue(text.contains("type=T           the VM type: default, snp, sw_protected, tdx"), text);
        assertTrue(text.matches("(?s).*tdx +module=1\\.0\\|1\\.5 .*"), "the VM types' own options:\n" + text);
        assertTrue(text.contains("example: create td type=tdx vcpus=2"), text);
        assertTrue(!text.contains("String[]") && !text.contains("parameters:"), text);
    }

    @Test
    void slotAndAccessShowEveryFormTheirStatementHas() {
        List<String> slot = help.page(Help.command("mmu:slot").orElseThrow());
        assertEquals(List.of("slot VM ID gpa=A size=S [flags=gmem,readonly,dirty_log] [backing=4K|2M|1G]",
                "slot delete VM ID", "slot move VM ID gpa=A",
                "slot log VM ID on|off [eager_split=on|off] [initially_set=on|off] [manual_protect=on|off]"),
                slot.subList(0, 4));
        List<String> access = help.page(Help.command("access").orElseThrow());
        assertTrue(access.get(0).startsWith("access VM vcpu=N read|write|exec gpa=A"), access.get(0));
        assertTrue(access.get(2).startsWith("access VM vcpu=N accept gpa=A size=S"), access.get(2));
    }

    @Test
    void aStatementsNameFindsTheCommandThatRunsIt() {
        assertEquals("create", Help.command("vm.create").orElseThrow().name()); // typed as a scenario has it
        assertEquals("access", Help.command("guest").orElseThrow().name());
        assertEquals("slot", Help.command("slot.move").orElseThrow().name());
        assertTrue(Help.command("vm.frobnicate").isEmpty());
    }

    @Test
    void helpListsEveryCommandOnOneLine() {
        List<String> list = help.list();
        assertEquals(Help.COMMANDS.size() + 1, list.size());
        for (Help.Command c : Help.COMMANDS)
            assertTrue(list.stream().anyMatch(l -> l.startsWith("  " + c.name() + " ")), c.name());
    }

    /** Every Gogo function in scope mmu a person may type has a help entry (the hidden ones start with _). */
    @Test
    void everyCommandHasHelp() {
        Set<String> functions = new TreeSet<>();
        for (Class<?> c : List.of(ShellCommands.class, ShellSession.class, RunCommand.class, ReplayCommand.class,
                CoreCommands.class))
            for (Method m : c.getDeclaredMethods())
                if (Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers())
                        && !m.getName().startsWith("__") && !m.getName().equals("_default")
                        && !m.getName().equals("session"))
                    functions.add(m.getName().replaceFirst("^_", ""));
        Set<String> documented = new TreeSet<>(Help.COMMANDS.stream().map(Help.Command::name).toList());
        assertEquals(functions, documented);
    }
}
