package org.tdplab.itest;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.CoreOptions.bundle;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import javax.inject.Inject;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.framework.BundleContext;
import org.tdplab.mmu.api.VmManager;

/** A backend jar dropped into the FileInstall folder is installed and served; deleting it removes the type. */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class FileInstallIT {
    private static final long SCAN_BOUND_MS = 15_000;

    @Inject
    BundleContext context;

    @Inject
    VmManager core;

    @Configuration
    public Option[] config() {
        Path load = loadDir();
        return Container.runtime(java.util.Map.of("felix.fileinstall.dir", load.toString(), "felix.fileinstall.poll", "100"),
                "backend.snp");
    }

    /** A fresh folder per container; its path is fixed when the configuration is built on the host. */
    private static Path loadDir() {
        try {
            return Files.createTempDirectory("tdplab-load");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    public void aBackendJarDroppedIntoTheLoadFolderIsInstalledAndItsTypeAppears() throws Exception {
        File dir = new File(context.getProperty("felix.fileinstall.dir"));
        assertFalse(DynamicBindingIT.types(core).contains("snp"));

        Path jar = dir.toPath().resolve("backend.snp.jar");
        Files.copy(Container.bundleFile("backend.snp").toPath(), jar, StandardCopyOption.REPLACE_EXISTING);
        assertTrue("snp never appeared", Container.eventually(() -> DynamicBindingIT.types(core).contains("snp"),
                SCAN_BOUND_MS));
        assertTrue(Container.bundle(context, "backend.snp") != null);

        Files.delete(jar);
        assertTrue("snp never went away", Container.eventually(() -> !DynamicBindingIT.types(core).contains("snp"),
                SCAN_BOUND_MS));
        // FileInstall stops the bundle (the type goes) and then uninstalls it
        assertTrue("the bundle is uninstalled",
                Container.eventually(() -> Container.bundle(context, "backend.snp") == null, SCAN_BOUND_MS));
    }

    /**
     * A jar of the load folder that serves no VM type is named by {@code backends}, with why: here one that is no
     * bundle, and one whose import nothing provides (it stays installed, unresolved, and the framework says nothing).
     */
    @Test
    public void backendsSaysWhyAJarOfTheLoadFolderServesNoType() throws Exception {
        Path dir = Path.of(context.getProperty("felix.fileinstall.dir"));
        java.util.jar.Manifest plain = new java.util.jar.Manifest();
        plain.getMainAttributes().put(java.util.jar.Attributes.Name.MANIFEST_VERSION, "1.0");
        write(dir.resolve("plain.jar"), plain);
        java.util.jar.Manifest needy = new java.util.jar.Manifest();
        needy.getMainAttributes().put(java.util.jar.Attributes.Name.MANIFEST_VERSION, "1.0");
        needy.getMainAttributes().putValue("Bundle-ManifestVersion", "2");
        needy.getMainAttributes().putValue("Bundle-SymbolicName", "com.example.needy");
        needy.getMainAttributes().putValue("Bundle-Version", "1.0.0");
        needy.getMainAttributes().putValue("Import-Package", "org.tdplab.mmu.api.backend;version=\"[99,100)\"");
        write(dir.resolve("needy.jar"), needy);
        assertTrue("needy.jar was never installed", Container.eventually(
                () -> Container.bundle(context, "com.example.needy") != null, SCAN_BOUND_MS));
        String said = backends();
        assertTrue(said, said.contains("serving no VM type:\n"));
        assertTrue(said, said.contains("  needy.jar (com.example.needy 1.0.0): installed but not resolved: nothing "
                + "provides osgi.wiring.package (&(osgi.wiring.package=org.tdplab.mmu.api.backend)(version>=99.0.0)"));
        assertTrue(said, said.contains("  plain.jar: not a bundle (its manifest has no Bundle-SymbolicName)\n"));
    }

    private static void write(Path jar, java.util.jar.Manifest manifest) throws IOException {
        Path part = Files.createTempFile(jar.getParent().getParent(), "jar", ".part"); // outside the folder
        try (java.util.jar.JarOutputStream out = new java.util.jar.JarOutputStream(Files.newOutputStream(part),
                manifest)) {
            out.flush();
        }
        Files.move(part, jar, StandardCopyOption.ATOMIC_MOVE);
    }

    /** What the {@code backends} command prints. */
    private String backends() throws Exception {
        org.osgi.framework.ServiceReference<?>[] refs = context.getServiceReferences((String) null,
                "(osgi.command.function=backends)");
        Object commands = context.getService(refs[0]);
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.PrintStream saved = System.out;
        System.setOut(new java.io.PrintStream(bytes, true, "UTF-8"));
        try {
            commands.getClass().getMethod("backends").invoke(commands);
        } finally {
            System.setOut(saved);
            context.ungetService(refs[0]);
        }
        return bytes.toString("UTF-8");
    }
}
