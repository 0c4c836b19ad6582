package org.tdplab.mmu.scenario.run;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.tdplab.backend.legacy.DefaultVmBackend;
import org.tdplab.backend.legacy.SwProtectedVmBackend;
import org.tdplab.backend.snp.SnpBackend;
import org.tdplab.backend.tdx.TdxBackend;
import org.tdplab.mmu.api.VmManager;
import org.tdplab.mmu.tdp.vm.Standalone;

/** Runs scenario text through a {@link Runner} over the standalone core; reports name files relative to a dir. */
final class Harness {
    final LabBackend lab = new LabBackend();
    final VmManager manager;
    private final Path dir;

    Harness(Path dir) {
        this.dir = dir;
        this.manager = Standalone.vmManager(new DefaultVmBackend(), new SwProtectedVmBackend(), new TdxBackend(),
                new SnpBackend(), lab);
    }

    record Result(int status, String out, String err) {
        /** The output without the summary lines: only failures. */
        String failures() {
            return String.join("\n", out.lines().filter(l -> !l.matches(".*(, ok|\\d+ failed)$") && !l.startsWith("#")).toList());
        }
    }

    Path file(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    Result run(String text) throws IOException {
        return run(false, file("t.scn", text));
    }

    Result checked(String text) throws IOException {
        return run(true, file("t.scn", text));
    }

    Result run(boolean checked, Path... files) {
        List<String> names = new ArrayList<>();
        for (Path f : files)
            names.add(f.toString());
        return run(manager, checked, names);
    }

    Result run(VmManager m, boolean checked, List<String> names) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = new Runner(m, o, e).run(names, checked);
        }
        String prefix = dir + java.io.File.separator;
        return new Result(status, out.toString(StandardCharsets.UTF_8).replace(prefix, ""),
                err.toString(StandardCharsets.UTF_8).replace(prefix, ""));
    }
}
