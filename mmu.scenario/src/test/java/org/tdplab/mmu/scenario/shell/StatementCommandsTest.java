package org.tdplab.mmu.scenario.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import org.apache.felix.service.command.Function;
import org.junit.jupiter.api.Test;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;

/**
 * The statements as Gogo commands: none before the shell starts; at its start one per verb that is not a shell
 * command, each completed through the shell; a backend's verbs follow it, completed once a command runs on the
 * shell's thread; each runs its line, verb first.
 */
class StatementCommandsTest {
    /** Live registrations: verb → its function, as Gogo would find them. */
    private final Map<String, Function> live = new TreeMap<>();
    private final List<String> completed = new ArrayList<>();
    private final List<List<String>> ran = new ArrayList<>();
    private final StatementCommands commands = new StatementCommands(context(), words -> ran.add(List.of(words)),
            completed::add);

    @SuppressWarnings("unchecked")
    private BundleContext context() {
        return (BundleContext) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {
                BundleContext.class }, (proxy, method, args) -> {
                    if (!method.getName().equals("registerService"))
                        throw new UnsupportedOperationException(method.getName());
                    String verb = (String) ((java.util.Dictionary<String, Object>) args[2]).get(
                            "osgi.command.function");
                    live.put(verb, (Function) args[1]);
                    return Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {
                            ServiceRegistration.class }, (p, m, a) -> {
                                if (!m.getName().equals("unregister"))
                                    throw new UnsupportedOperationException(m.getName());
                                live.remove(verb);
                                return null;
                            });
                });
    }

    @Test
    void eachStatementIsACommandOnceTheShellStarts() throws Exception {
        commands.sync(Set.of("vm.create", "expect"));
        assertEquals(Map.of(), live, "nothing before the interactive shell starts");
        commands.start(Set.of("vm.create", "expect", "run", "check", "zap", "tdx.finalize"));
        assertEquals(List.of("expect", "tdx.finalize", "vm.create"), List.copyOf(live.keySet()),
                "run, check and zap stay the shell's commands");
        assertEquals(List.of("expect", "tdx.finalize", "vm.create"), completed);

        live.get("vm.create").execute(null, List.of("a", "type=default"));
        assertEquals(List.of(List.of("vm.create", "a", "type=default")), ran);

        commands.sync(Set.of("vm.create", "expect", "snp.launch_finish")); // tdx went, snp came
        assertEquals(List.of("expect", "snp.launch_finish", "vm.create"), List.copyOf(live.keySet()));
        assertEquals(3, completed.size(), "a later verb waits for the shell's thread to complete it");
        commands.completeNew(); // a command ran on the shell's thread
        assertEquals(List.of("expect", "tdx.finalize", "vm.create", "snp.launch_finish"), completed);
        commands.completeNew();
        assertEquals(4, completed.size(), "each verb once");

        commands.sync(Set.of("vm.create", "expect", "snp.launch_finish", "template.limit"));
        commands.sync(Set.of("vm.create", "expect", "snp.launch_finish")); // came and went before a command ran
        commands.completeNew();
        assertEquals(4, completed.size(), "a verb gone before the shell's thread came to it is not completed");

        commands.close();
        assertEquals(Map.of(), live);
        commands.sync(Set.of("vm.create"));
        commands.completeNew();
        assertEquals(Map.of(), live, "closed: nothing more");
        assertEquals(4, completed.size());
    }
}
