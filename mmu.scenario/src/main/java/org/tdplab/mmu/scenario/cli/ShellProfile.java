package org.tdplab.mmu.scenario.cli;

import java.io.IOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;

/**
 * The session profile of {@code ./tdplab shell}. Gogo's shell reads {@code etc/gosh_profile} under the directory
 * {@code gosh.home} names; this writes one to a fresh directory and points {@code gosh.home} there before the shell
 * starts. It runs Gogo's own profile (quietly: no Felix banner), then puts scope {@code mmu} first (so {@code help},
 * {@code exit}, {@code create} … answer to their plain names), sets the prompt, and has {@code mmu:__start} register
 * Tab completion for every tdplab command and print tdplab's banner.
 */
final class ShellProfile {
    static final String GOGO_SHELL_BUNDLE = "org.apache.felix.gogo.jline";

    private ShellProfile() {
    }

    /** Writes the profile and sets {@code gosh.home}, unless the user set {@code gosh.home} to their own. */
    static void install(BundleContext context) throws IOException {
        if (context.getProperty("gosh.home") != null)
            return;
        Path home = Files.createTempDirectory("tdplab-shell");
        Path etc = Files.createDirectories(home.resolve("etc"));
        Path profile = Files.writeString(etc.resolve("gosh_profile"), text(gogoProfile(context)));
        for (Path p : List.of(home, etc, profile))
            p.toFile().deleteOnExit(); // deleted in reverse order of registration
        System.setProperty("gosh.home", home.toString());
    }

    /** Gogo's default profile inside its shell bundle, or null when that bundle is not there. */
    private static URL gogoProfile(BundleContext context) {
        for (Bundle b : context.getBundles())
            if (GOGO_SHELL_BUNDLE.equals(b.getSymbolicName()))
                return b.getEntry("gosh_profile");
        return null;
    }

    static String text(URL gogoProfile) {
        List<String> l = new ArrayList<>();
        l.add("# tdplab's shell session, written by ./tdplab shell: Gogo's own profile, then tdplab's commands first,");
        l.add("# its prompt, Tab completion for each of its commands, and its banner.");
        if (gogoProfile != null) {
            l.add(".gosh_quiet = true");
            l.add("source '" + gogoProfile + "'");
        }
        l.add("SCOPE = 'mmu:gogo:*'");
        l.add("prompt = 'tdplab> '");
        l.add("mmu:__start");
        return String.join("\n", l) + "\n";
    }
}
