package org.tdplab.mmu.scenario.shell;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.shell.CoreCommands;

/**
 * The shell's commands without a terminal, for transcripts in the docs: {@code tdplab> COMMAND ARGS…} lines run
 * as Gogo would call them (words split at spaces; an {@code mmu:} scope is allowed), answers captured.
 */
public final class ShellDriver implements AutoCloseable {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    private final VmManager manager;
    private final ShellCommands commands;

    public ShellDriver(VmManager manager) {
        this.manager = manager;
        this.commands = new ShellCommands(manager, out);
    }

    /** The answer to one command line (without the prompt). */
    public List<String> execute(String line) {
        List<String> words = Arrays.asList(line.strip().split(" +"));
        String name = words.get(0).replaceFirst("^mmu:", "");
        String[] args = words.subList(1, words.size()).toArray(String[]::new);
        PrintStream system = System.out;
        System.setOut(out);
        try {
            switch (name) {
            case "help" -> {
                Help help = new Help(commands.session().parser(), manager.options());
                (args.length == 0 ? help.list() : Help.command(args[0]).map(help::page)
                        .orElse(List.of("no command '" + args[0] + "'"))).forEach(out::println);
            }
            case "vms", "backends" -> {
                CoreCommands core = new CoreCommands();
                java.lang.reflect.Field f = CoreCommands.class.getDeclaredField("manager");
                f.setAccessible(true); // the field DS injects
                f.set(core, manager);
                invoke(core, name);
            }
            default -> invoke(commands, name, (Object) args);
            }
        } catch (ReflectiveOperationException e) {
            out.println("no command '" + name + "'");
        } finally {
            System.setOut(system);
        }
        String s = bytes.toString(StandardCharsets.UTF_8);
        bytes.reset();
        return s.isEmpty() ? List.of() : new ArrayList<>(s.lines().toList());
    }

    private void invoke(Object target, String name, Object... args) throws ReflectiveOperationException {
        String method = name.equals("do") ? "_do" : name;
        for (Method m : target.getClass().getMethods())
            if (m.getName().equals(method) && m.getParameterCount() == args.length) {
                try {
                    m.invoke(target, args);
                } catch (InvocationTargetException e) {
                    throw new IllegalStateException(e.getCause());
                }
                return;
            }
        throw new NoSuchMethodException(name);
    }

    @Override
    public void close() {
        commands.session().close();
    }
}
