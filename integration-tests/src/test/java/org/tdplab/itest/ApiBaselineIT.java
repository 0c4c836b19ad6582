package org.tdplab.itest;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.List;
import java.util.jar.Manifest;

import org.junit.Test;

import aQute.bnd.differ.Baseline;
import aQute.bnd.differ.DiffPluginImpl;
import aQute.bnd.osgi.Jar;
import aQute.bnd.osgi.Processor;

/**
 * The check {@code mmu.api}'s build runs (bnd-baseline-maven-plugin against {@code cnf/baseline}), shown to pass on the
 * API as built and to fail on copies of the baseline changed without the package version the change needs.
 */
public class ApiBaselineIT {
    private static final String ROOT = System.getProperty("tdplab.root", "..");
    private static final File BASELINE = new File(ROOT, "cnf/baseline/org/tdplab/mmu.api/0.0.1/mmu.api-0.0.1.jar");
    /** The latest release, the one the build baselines against ({@code tdplab.baseline.coordinates}). */
    private static final File LATEST = new File(ROOT, "cnf/baseline/org/tdplab/mmu.api/0.0.2/mmu.api-0.0.2.jar");
    /** A class of the baseline's {@code org.tdplab.mmu.api} 1.3.0: removing it breaks every consumer. */
    private static final String REMOVED = "org/tdplab/mmu/api/Access.class";

    /** The packages whose version does not cover their change: what makes the plugin fail the build. */
    private static List<String> mismatches(Jar newer, Jar older) throws Exception {
        try (Processor reporter = new Processor()) {
            return new Baseline(reporter, new DiffPluginImpl()).baseline(newer, older, null).stream()
                    .filter(i -> i.mismatch).map(i -> i.packageName + " " + i.newerVersion + " needs "
                            + i.suggestedVersion).sorted().toList();
        }
    }

    /** The baseline with {@link #REMOVED} gone and {@code org.tdplab.mmu.api} exported at {@code version}. */
    private static Jar changed(String version) throws Exception {
        Jar jar = new Jar(BASELINE);
        assertTrue(jar.remove(REMOVED) != null);
        Manifest manifest = new Manifest(jar.getManifest());
        String exports = manifest.getMainAttributes().getValue("Export-Package");
        manifest.getMainAttributes().putValue("Export-Package",
                exports.replace("org.tdplab.mmu.api;version=\"1.3.0\"", "org.tdplab.mmu.api;version=\"" + version + "\""));
        jar.setManifest(manifest);
        return jar;
    }

    @Test
    public void theBuiltApiIsVersionedAgainstItsBaseline() throws Exception {
        try (Jar built = new Jar(Container.bundleFile("mmu.api")); Jar base = new Jar(BASELINE);
                Jar latest = new Jar(LATEST)) {
            assertEquals(List.of(), mismatches(built, base));
            assertEquals(List.of(), mismatches(built, latest));
        }
    }

    /**
     * The real change since the latest release — typed creation options, decoded leaves, exceptions named by the
     * type: breaking for {@code org.tdplab.mmu.api.backend} (4.0.0, then 4.1.0 for
     * {@code VmContext.memslotGeneration}, 4.2.0 for {@code VmContext.executeOnOperand}, 4.3.0 for
     * {@code VmContext.runningVcpu} and {@code VmBackend.topUpExternalCache}, 4.4.0 for
     * {@code VmBackend.needTopUpExternalSplitCache} and {@code topUpExternalSplitCache}, 4.5.0 for
     * {@code VmBackend.runRefusal}, 4.6.0 for {@code VmBackend.installExternalSpte}, 4.7.0 for
     * {@code SnapshotCodec.decode} with upgrades, 4.8.0 for {@code VmBackend.failEntry} and
     * {@code MmuView.gmemLocked}, 4.9.0 for {@code VmBackend.removeExternalSpte}, 4.10.0 for
     * {@code MmuView.forEachLeaf} and {@code forEachTable} with a {@code FieldVisitor}), an added method of a provider type for {@code org.tdplab.mmu.api} (3.1.0, then 3.2.0
     * for {@code DirtyLogOptions.manualProtect}, 3.3.0 for {@code Exit.Reason.FAIL_ENTRY} and
     * {@code Exit.hardwareEntryFailureReason}).
     * Exported at the release's versions, the build refuses it.
     */
    @Test
    public void theChangeSinceTheLatestReleaseWithTheReleasedVersionsFails() throws Exception {
        try (Jar built = new Jar(Container.bundleFile("mmu.api")); Jar latest = new Jar(LATEST)) {
            Manifest manifest = new Manifest(built.getManifest());
            String exports = manifest.getMainAttributes().getValue("Export-Package");
            manifest.getMainAttributes().putValue("Export-Package", exports
                    .replace("org.tdplab.mmu.api.backend;version=\"4.10.0\"",
                            "org.tdplab.mmu.api.backend;version=\"3.0.0\"")
                    .replace("org.tdplab.mmu.api;version=\"3.3.0\"", "org.tdplab.mmu.api;version=\"3.0.0\""));
            built.setManifest(manifest);
            assertEquals(List.of("org.tdplab.mmu.api 3.0.0 needs 3.1.0", "org.tdplab.mmu.api.backend 3.0.0 needs 4.0.0"),
                    mismatches(built, latest));
        }
    }

    @Test
    public void aBreakingChangeWithoutANewVersionFails() throws Exception {
        try (Jar newer = changed("1.3.0"); Jar base = new Jar(BASELINE)) {
            assertEquals(List.of("org.tdplab.mmu.api 1.3.0 needs 2.0.0"), mismatches(newer, base));
        }
    }

    @Test
    public void aBreakingChangeWithAMinorBumpFails() throws Exception {
        try (Jar newer = changed("1.4.0"); Jar base = new Jar(BASELINE)) {
            assertEquals(List.of("org.tdplab.mmu.api 1.4.0 needs 2.0.0"), mismatches(newer, base));
        }
    }

    @Test
    public void aBreakingChangeWithAMajorBumpPasses() throws Exception {
        try (Jar newer = changed("2.0.0"); Jar base = new Jar(BASELINE)) {
            assertEquals(List.of(), mismatches(newer, base));
        }
    }
}
