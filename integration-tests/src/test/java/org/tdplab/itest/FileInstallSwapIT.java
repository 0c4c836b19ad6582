package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.CoreOptions.bundle;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Enumeration;
import java.util.Map;
import java.util.Set;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

import javax.inject.Inject;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.framework.BundleContext;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.AccessResult;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.SlotFlag;
import org.tdplab.mmu.api.Vm;
import org.tdplab.mmu.api.VmManager;

/**
 * A newer backend jar dropped into the FileInstall folder over the one it installed updates the running bundle: the
 * live SNP VM is suspended, taken over by the new version from its snapshot, and reads back what it wrote.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class FileInstallSwapIT {
    private static final long SCAN_BOUND_MS = 15_000, K4 = 4096, RANGE = 32 * K4;

    @Inject
    BundleContext context;

    @Inject
    VmManager core;

    @Configuration
    public Option[] config() {
        Path load;
        try {
            load = Files.createTempDirectory("tdplab-load");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Container.runtime(java.util.Map.of("felix.fileinstall.dir", load.toString(), "felix.fileinstall.poll", "100"),
                "backend.snp");
    }

    @Test
    public void aNewerJarDroppedOverTheInstalledOneTakesTheLiveVmOver() throws Exception {
        File dir = new File(context.getProperty("felix.fileinstall.dir"));
        Path jar = dir.toPath().resolve("backend.snp.jar");
        Files.copy(Container.bundleFile("backend.snp").toPath(), jar, StandardCopyOption.REPLACE_EXISTING);
        assertTrue("snp never appeared", Container.eventually(() -> DynamicBindingIT.types(core).contains("snp"),
                SCAN_BOUND_MS));

        Vm vm = core.create("snp", "snp", 2, 48, Map.of());
        vm.addMemslot(0, 0, 2L << 20, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.invoke("launch_finish", VerbArgs.none("launch_finish"));
        assertTrue(vm.convert(0, true, 0, RANGE).completed());
        assertTrue(vm.access(0, Access.WRITE, 0, RANGE, Encoding.CURRENT, 31).completed());
        assertTrue(vm.access(1, Access.WRITE, RANGE, RANGE, Encoding.CURRENT, 32).completed());
        String before = vm.backendVersion();
        long updates = vm.stats().get("RMPUPDATE");

        Path newer = Files.createTempFile(dir.toPath().getParent(), "backend.snp", ".part"); // outside the folder
        withVersion(Container.bundleFile("backend.snp").toPath(), newer, "9.9.9");
        Files.move(newer, jar, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        assertTrue("the newer bundle never took the VM over", Container.eventually(
                () -> vm.backendVersion().equals("backend.snp 9.9.9"), SCAN_BOUND_MS));
        assertTrue(vm.suspension().isEmpty());
        AccessResult r = vm.access(0, Access.READ, 0, RANGE, Encoding.CURRENT, 0);
        assertTrue(r.completed() && r.valuesAgree());
        assertEquals(31, r.value());
        assertEquals(32, vm.access(1, Access.READ, RANGE, RANGE, Encoding.CURRENT, 0).value());
        assertTrue(vm.stats().get("RMPUPDATE") >= updates);
        assertTrue(String.join("\n", vm.check().violations()), vm.check().ok());
        assertTrue(!before.equals(vm.backendVersion()));
        vm.destroy();
    }

    @Test
    public void aNewerJarDroppedBesideTheBuiltInBundleTakesTheLiveTdOver() throws Exception {
        Vm vm = core.create("td", "tdx", 2, 48, Map.of());
        vm.addMemslot(0, 0, 4L << 20, Set.of(SlotFlag.GMEM), PageSize.SIZE_4K);
        vm.setMemoryAttributes(0, 2L << 20, true);
        vm.invoke("finalize", VerbArgs.none("finalize"));
        assertTrue(vm.accept(0, 0, RANGE, PageSize.SIZE_4K).completed());
        assertTrue(vm.access(0, Access.WRITE, 0, RANGE, Encoding.PRIVATE, 41).completed());
        long aug = vm.stats().get("TDH.MEM.PAGE.AUG");

        File dir = new File(context.getProperty("felix.fileinstall.dir"));
        Path newer = Files.createTempFile(dir.toPath().getParent(), "backend.tdx", ".part");
        withVersion(Container.bundleFile("backend.tdx").toPath(), newer, "9.9.9");
        Files.move(newer, dir.toPath().resolve("backend.tdx-9.9.9.jar"), StandardCopyOption.ATOMIC_MOVE);
        assertTrue("the newer bundle never took the TD over", Container.eventually(
                () -> vm.backendVersion().equals("backend.tdx 9.9.9"), SCAN_BOUND_MS));
        AccessResult r = vm.access(1, Access.READ, 0, RANGE, Encoding.CURRENT, 0);
        assertTrue(r.completed() && r.valuesAgree());
        assertEquals(41, r.value());
        assertEquals(aug, (long) vm.stats().get("TDH.MEM.PAGE.AUG"));
        assertTrue(String.join("\n", vm.check().violations()), vm.check().ok());
        assertEquals("new TDs go to the newer bundle too", "backend.tdx 9.9.9",
                core.create("td2", "tdx", 1, 48, Map.of()).backendVersion());
        vm.destroy();
    }

    /** A copy of a bundle jar with another Bundle-Version. */
    private static void withVersion(Path from, Path to, String version) throws IOException {
        try (JarFile in = new JarFile(from.toFile())) {
            Manifest mf = new Manifest(in.getManifest());
            mf.getMainAttributes().putValue("Bundle-Version", version);
            try (OutputStream os = Files.newOutputStream(to); JarOutputStream out = new JarOutputStream(os, mf)) {
                Enumeration<JarEntry> entries = in.entries();
                while (entries.hasMoreElements()) {
                    JarEntry e = entries.nextElement();
                    if (e.getName().equals("META-INF/MANIFEST.MF") || e.getName().equals("META-INF/"))
                        continue;
                    out.putNextEntry(new JarEntry(e.getName()));
                    try (InputStream is = in.getInputStream(e)) {
                        is.transferTo(out);
                    }
                    out.closeEntry();
                }
            }
        }
    }
}
