package org.tdplab.mmu.scenario.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbSpec;
import org.tdplab.mmu.api.backend.VmOption;
import org.tdplab.mmu.scenario.lang.CoreVerbs;
import org.tdplab.mmu.scenario.lang.Schema;
import org.tdplab.mmu.scenario.run.BackendVerbs;
import org.tdplab.mmu.scenario.run.FileResult;
import org.tdplab.mmu.scenario.run.Runner;
import org.tdplab.mmu.scenario.run.Session;
import org.tdplab.mmu.scenario.workload.Workloads;

/**
 * The reference pages name everything the code knows: every statement form, expectation and backend verb, every
 * option of every VM type and workload, every errno, exception and counter, every configuration property. When one
 * of these tests fails, the code has gained something users cannot learn about: document it on the page the
 * message names.
 */
class DocsCoverageTest {
    static final Path LANGUAGE = Docs.doc("scenario-language.md"), TYPES = Docs.doc("vm-types.md"),
            ERRORS = Docs.doc("errors.md");
    static final List<Backend> BACKENDS = List.of(new DefaultVmBackend(), new SwProtectedVmBackend(),
            new TdxBackend(), new SnpBackend());
    private static final Pattern CODE = Pattern.compile("`([^`]+)`");

    /** The code spans of a text's lines, outside fenced blocks. */
    static Set<String> spans(String text) {
        Set<String> out = new TreeSet<>();
        boolean fenced = false;
        for (String line : text.split("\n")) {
            if (line.startsWith("```")) {
                fenced = !fenced;
                continue;
            }
            Matcher m = CODE.matcher(line);
            while (!fenced && m.find())
                out.add(m.group(1));
        }
        return out;
    }

    private static void allIn(String page, Set<String> documented, List<String> wanted, String what) {
        List<String> missing = wanted.stream().filter(w -> !documented.contains(w)).toList();
        assertEquals(List.of(), missing, what + " the code knows but " + page + " does not name (as `…`)");
    }

    @Test
    void everyCoreStatementFormIsInTheLanguageReference() {
        List<String> usages = CoreVerbs.all().stream().map(Schema::usage).toList();
        assertTrue(usages.size() >= 30, usages.toString());
        allIn("docs/scenario-language.md", spans(Markdown.text(LANGUAGE)), usages, "statement forms");
    }

    @Test
    void everyBackendVerbIsInTheLanguageReference() {
        List<String> usages = new ArrayList<>();
        for (Backend b : BACKENDS)
            for (VerbSpec v : b.verbs())
                usages.add(BackendVerbs.schema(v).usage());
        assertTrue(usages.contains("tdx.finalize VM"), usages.toString());
        allIn("docs/scenario-language.md", spans(Markdown.section(LANGUAGE, "Backend verbs")), usages,
                "backend verbs");
        for (Backend b : BACKENDS)
            for (VerbSpec v : b.verbs())
                assertTrue(Markdown.section(TYPES, "`" + b.vmType() + "`").contains(v.name()),
                        "docs/vm-types.md: section `" + b.vmType() + "` does not name its verb " + v.name());
    }

    @Test
    void everyVmTypeAndItsOptionsAreInTheVmTypesPage() {
        for (Backend b : BACKENDS) {
            String section = Markdown.section(TYPES, "`" + b.vmType() + "`");
            assertFalse(section.isEmpty(), "docs/vm-types.md has no section ## `" + b.vmType() + "`");
            List<String> options = b.options().stream().map(o -> o.key() + "=" + o.values()).toList();
            allIn("docs/vm-types.md section `" + b.vmType() + "`", spans(section), options,
                    "options of VM type " + b.vmType());
        }
    }

    /**
     * {@code vm.create} refuses exactly the options a backend does not list: the list is the truth the page is
     * checked against.
     */
    @Test
    void theOptionsABackendListsAreTheOnesItTakes() {
        org.tdplab.mmu.api.VmManager manager = org.tdplab.mmu.tdp.vm.Standalone.vmManager(
                BACKENDS.toArray(Backend[]::new));
        for (Backend b : BACKENDS) {
            Set<String> keys = new TreeSet<>();
            b.options().stream().map(VmOption::key).forEach(keys::add);
            try {
                manager.create("vm-" + b.vmType(), b.vmType(), 1, 48, Map.of("no_such_option", "1"));
                throw new AssertionError(b.vmType() + " took an option it does not list");
            } catch (org.tdplab.mmu.api.MmuException e) {
                assertEquals(org.tdplab.mmu.api.Errno.EINVAL, e.errno());
                assertTrue(e.getMessage().endsWith("known: " + String.join(", ", keys)),
                        b.vmType() + ": " + e.getMessage());
            }
        }
    }

    @Test
    void everyWorkloadAndItsOptionsAreInTheLanguageReference() {
        String section = Markdown.section(LANGUAGE, "Workloads (`run`)");
        Set<String> documented = spans(section);
        List<String> missing = new ArrayList<>();
        for (String w : Workloads.names()) {
            if (!documented.contains(w))
                missing.add(w);
            for (String option : workloadOptions(w))
                if (documented.stream().noneMatch(s -> s.startsWith(option + "=")))
                    missing.add(w + " " + option + "=");
        }
        assertEquals(List.of(), missing, "workloads and options docs/scenario-language.md (Workloads) does not name");
    }

    /** The options a workload knows, as its refusal of an unknown one lists them. */
    static List<String> workloadOptions(String workload) {
        Session s = new Session(DocsExamplesTest.manager());
        try {
            s.execute("vm.create v type=default");
            List<String> answer = s.execute("run v " + workload + " gpa=0 size=4K vcpus=1 no_such_option=1");
            Matcher m = Pattern.compile("\\(it knows (.*)\\)$").matcher(String.join("\n", answer));
            assertTrue(m.find(), "run " + workload + " with an unknown option answered " + answer);
            return List.of(m.group(1).split(", "));
        } finally {
            s.close();
        }
    }

    @Test
    void everyErrnoAndExceptionNameIsDocumented() {
        allIn("docs/errors.md", spans(Markdown.text(ERRORS)), CoreVerbs.ERRNOS, "errno names");
        allIn("docs/scenario-language.md", spans(Markdown.text(LANGUAGE)), CoreVerbs.ERRNOS, "errno names");
        String text = Markdown.section(LANGUAGE, "Expectations");
        allIn("docs/scenario-language.md (Expectations)", spans(text), CoreVerbs.EXCEPTIONS, "exception names");
    }

    /** Every counter a VM of the library's scenarios ends with, and every counter of a fresh VM of each type. */
    @Test
    void everyCounterIsInTheVmTypesPage() throws IOException {
        Set<String> counters = new TreeSet<>();
        for (Backend b : BACKENDS) {
            var vm = DocsExamplesTest.manager().create("fresh", b.vmType(), 1, 48, Map.of());
            counters.addAll(vm.stats().keySet());
            vm.destroy();
        }
        List<String> files;
        try (Stream<Path> s = Files.list(Docs.ROOT.resolve("scenarios"))) {
            files = s.map(Path::toString).filter(f -> f.endsWith(".scn")).sorted().toList();
        }
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        Runner runner = new Runner(DocsExamplesTest.manager(), quiet, quiet);
        runner.run(files, false);
        for (FileResult f : runner.results())
            for (FileResult.VmRecord v : f.vms())
                counters.addAll(v.counters().keySet());
        assertTrue(counters.contains("TDH.MEM.PAGE.AUG") && counters.contains("RMPUPDATE"), counters.toString());
        allIn("docs/vm-types.md (Counters)", spans(Markdown.section(TYPES, "Counters")), List.copyOf(counters),
                "counters");
    }

    /** Every property of a backend's ConfigAdmin configuration, in the row of its PID. */
    @Test
    void everyConfigurationPropertyIsInTheVmTypesPage() {
        String section = Markdown.section(TYPES, "Configuration (ConfigAdmin)");
        for (Class<?> config : List.of(TdxBackend.Config.class, SnpBackend.Config.class)) {
            String pid = config.getEnclosingClass().getSimpleName().equals("TdxBackend") ? "org.tdplab.backend.tdx"
                    : "org.tdplab.backend.snp";
            String row = section.lines().filter(l -> l.startsWith("| `" + pid + "`")).findFirst().orElse("");
            assertFalse(row.isEmpty(), "docs/vm-types.md (Configuration) has no row for " + pid);
            List<String> properties = new ArrayList<>();
            for (Method m : config.getDeclaredMethods())
                properties.add(m.getName().replace("__", "_"));
            allIn("docs/vm-types.md (Configuration) row " + pid, spans(row), properties, "properties of " + pid);
        }
    }

    /** The README and the docs link only to files in the repository (a clone has nothing beside it), all there. */
    @Test
    void everyLinkIsToAFileInTheRepository() {
        Pattern link = Pattern.compile("\\]\\(([^)#\\s]+)(#[^)]*)?\\)");
        List<String> broken = new ArrayList<>();
        for (Path doc : Docs.all()) {
            Matcher m = link.matcher(Markdown.text(doc));
            while (m.find()) {
                String target = m.group(1);
                if (target.matches("[a-z]+:.*"))
                    continue; // a web address
                Path resolved = doc.getParent().resolve(target).normalize();
                if (!resolved.startsWith(Docs.ROOT) || !Files.exists(resolved))
                    broken.add(Docs.ROOT.relativize(doc) + ": " + target);
            }
        }
        assertEquals(List.of(), broken, "links to files that a clone does not have");
    }

    /** Every shell command has a row in docs/shell.md. */
    @Test
    void everyShellCommandIsInTheShellPage() {
        String commands = Markdown.section(Docs.doc("shell.md"), "Commands");
        List<String> missing = org.tdplab.mmu.scenario.shell.Help.COMMANDS.stream().map(c -> c.name())
                .filter(n -> !Pattern.compile("`" + n + "[ `]").matcher(commands).find()).toList();
        assertEquals(List.of(), missing, "shell commands docs/shell.md (Commands) does not name");
    }
}
