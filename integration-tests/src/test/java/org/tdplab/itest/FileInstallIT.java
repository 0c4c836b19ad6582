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
}
