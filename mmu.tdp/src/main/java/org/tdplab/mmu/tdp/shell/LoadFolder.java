package org.tdplab.mmu.tdp.shell;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.Version;
import org.osgi.framework.wiring.BundleRequirement;
import org.osgi.framework.wiring.BundleRevision;
import org.osgi.framework.wiring.FrameworkWiring;
import org.osgi.resource.Namespace;
import org.tdplab.mmu.api.backend.Backend;

/**
 * Why a jar in the FileInstall folder ({@code felix.fileinstall.dir}) serves no VM type, where the framework would
 * say nothing: not a bundle, installed but not resolved (the requirements nothing provides), resolved or active but
 * registering no backend service, or registering one the core refused. Read-only: it starts and resolves nothing.
 */
final class LoadFolder {
    private LoadFolder() {
    }

    /** One line per jar of the folder that serves no VM type; {@code servingBundles} are those the core serves from. */
    static List<String> problems(BundleContext context, Set<String> servingBundles) {
        String dir = context.getProperty("felix.fileinstall.dir");
        if (dir == null)
            return List.of();
        Path folder = Path.of(dir).toAbsolutePath().normalize();
        List<String> out = new ArrayList<>();
        Set<Path> installed = new HashSet<>();
        for (Bundle b : context.getBundles()) {
            Path file = fileOf(b);
            if (file == null || !folder.equals(file.getParent()))
                continue;
            installed.add(file);
            String why = whyNotServing(context, b, servingBundles);
            if (why != null)
                out.add(folder.relativize(file) + " (" + b.getSymbolicName() + " " + b.getVersion() + "): " + why);
        }
        try (Stream<Path> jars = Files.list(folder)) {
            jars.filter(p -> p.toString().endsWith(".jar") && !installed.contains(p.toAbsolutePath().normalize()))
                    .sorted().forEach(p -> out.add(folder.relativize(p.toAbsolutePath().normalize()) + ": "
                            + notInstalled(context, p)));
        } catch (IOException e) {
            // an unreadable folder: FileInstall cannot read it either, and says so itself
        }
        return out;
    }

    private static String whyNotServing(BundleContext context, Bundle b, Set<String> servingBundles) {
        if (b.getState() == Bundle.INSTALLED)
            return "installed but not resolved" + missing(context, b);
        if (b.getState() != Bundle.ACTIVE && b.getState() != Bundle.STARTING)
            return "resolved but not started";
        ServiceReference<?>[] registered = b.getRegisteredServices();
        boolean registersBackend = registered != null && Stream.of(registered).anyMatch(r -> Stream.of(
                (String[]) r.getProperty(Constants.OBJECTCLASS)).anyMatch(Backend.class.getName()::equals));
        if (registersBackend)
            return servingBundles.contains(b.getSymbolicName()) ? null
                    : "its backend service was refused (the log line at its start says why)";
        if (b.getHeaders().get("Service-Component") == null)
            return "active, but it registers no backend: its manifest has no Service-Component header (was the DS "
                    + "component built into it?)";
        return "active, but it registers no backend: its component is not satisfied (scr:info NAME says which "
                + "reference is missing)";
    }

    /** The requirements of an unresolved bundle that nothing installed provides. */
    private static String missing(BundleContext context, Bundle b) {
        BundleRevision revision = b.adapt(BundleRevision.class);
        FrameworkWiring wiring = context.getBundle(Constants.SYSTEM_BUNDLE_LOCATION).adapt(FrameworkWiring.class);
        if (revision == null || wiring == null)
            return "";
        List<String> none = new ArrayList<>();
        for (BundleRequirement r : revision.getDeclaredRequirements(null)) {
            if (Namespace.RESOLUTION_OPTIONAL.equals(r.getDirectives().get(Namespace.REQUIREMENT_RESOLUTION_DIRECTIVE))
                    || r.getNamespace().startsWith("osgi.service") || r.getNamespace().equals("osgi.extender"))
                continue;
            if (wiring.findProviders(r).isEmpty())
                none.add(r.getNamespace() + " " + r.getDirectives().getOrDefault(Namespace.REQUIREMENT_FILTER_DIRECTIVE,
                        ""));
        }
        return none.isEmpty() ? "" : ": nothing provides " + String.join("; ", none);
    }

    private static String notInstalled(BundleContext context, Path jar) {
        try (JarFile j = new JarFile(jar.toFile())) {
            String bsn = j.getManifest() == null ? null
                    : j.getManifest().getMainAttributes().getValue(Constants.BUNDLE_SYMBOLICNAME);
            if (bsn == null)
                return "not a bundle (its manifest has no Bundle-SymbolicName)";
            String name = bsn.split(";")[0].strip();
            String version = j.getManifest().getMainAttributes().getValue(Constants.BUNDLE_VERSION);
            Version v = Version.parseVersion(version == null ? null : version.strip());
            for (Bundle b : context.getBundles())
                if (name.equals(b.getSymbolicName()) && v.equals(b.getVersion()))
                    return "not installed as a bundle of its own: " + name + " " + v + " is installed already (from "
                            + b.getLocation() + "; FileInstall may have updated that one with it)";
            return "not installed (yet: FileInstall looks at the folder every half second)";
        } catch (IllegalArgumentException e) {
            return "not installed: its Bundle-Version is malformed";
        } catch (IOException e) {
            return "not a readable jar";
        }
    }

    /** The file a bundle was installed from, or null when its location is none. */
    private static Path fileOf(Bundle b) {
        String location = b.getLocation();
        try {
            URI uri = URI.create(location);
            if ("file".equals(uri.getScheme()))
                return Path.of(uri).toAbsolutePath().normalize();
        } catch (IllegalArgumentException | java.nio.file.FileSystemNotFoundException e) {
            // not a URI
        }
        return null;
    }
}
