package org.tdplab.mmu.scenario.shell;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;

import org.junit.jupiter.api.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;

class WordedScriptsTest {
    @Test
    void aScriptOrALineRuns() {
        assertNull(WordedScripts.refusal("sh", new String[] {"boot.gosh"}));
        assertNull(WordedScripts.refusal("sh", new String[] {"-x", "boot.gosh", "--login"})); // an argument of the script
        assertNull(WordedScripts.refusal("gosh", new String[] {"-c", "echo", "hi"}));
        assertNull(WordedScripts.refusal("gosh", new String[] {"--nohistory", "--command", "lb"}));
    }

    @Test
    void aNestedInteractiveShellIsRefusedInWords() {
        String none = WordedScripts.refusal("sh", new String[0]);
        assertTrue(none.startsWith("this shell is interactive already: sh FILE"), none);
        assertTrue(none.endsWith("(given: sh)"), none);
        String options = WordedScripts.refusal("gosh", new String[] {"-x"});
        assertTrue(options.contains("(given: gosh -x)"), options);
        assertTrue(WordedScripts.refusal("sh", null).contains("interactive already"));
    }

    @Test
    void loginIsRefusedBeforeTheScriptOnly() {
        String login = WordedScripts.refusal("sh", new String[] {"--login", "boot.gosh"});
        assertTrue(login.startsWith("--login reads Gogo's profile"), login);
    }

    @Test
    void helpIsAnOptionBeforeTheScript() {
        assertTrue(WordedScripts.asksForHelp(new String[] {"--help"}));
        assertTrue(WordedScripts.asksForHelp(new String[] {"-x", "-?"}));
        assertFalse(WordedScripts.asksForHelp(new String[] {"boot.gosh", "--help"}));
        assertFalse(WordedScripts.asksForHelp(new String[] {"-c", "foo", "--help"}));
        assertFalse(WordedScripts.asksForHelp(new String[0]));
        String usage = WordedScripts.usage("gosh");
        assertTrue(usage.contains("usage: gosh [-x] [--nohistory] FILE [ARGS…]"), usage);
        assertFalse(usage.contains("interactive shell is started"), usage);
    }

    /**
     * {@code exit} stops Gogo's shell through the service of Gogo's {@code gosh}: ours answers to that name too, and
     * when the look-up listed ours first, {@code exit} stopped the framework under the running line instead (which
     * Gogo printed as {@code java.lang.InterruptedException}).
     */
    @Test
    void gogosShellIsFoundWhateverOrderTheRegistryGives() throws Exception {
        Bundle ours = proxy(Bundle.class, null), gogos = proxy(Bundle.class, null);
        ServiceReference<?> mine = proxy(ServiceReference.class, ours), theirs = proxy(ServiceReference.class, gogos);
        for (ServiceReference<?>[] order : new ServiceReference<?>[][] {{mine, theirs}, {theirs, mine}}) {
            BundleContext context = proxy(BundleContext.class, null, ours, order);
            assertSame(theirs, ShellSession.gogoShell(context));
        }
        assertNull(ShellSession.gogoShell(proxy(BundleContext.class, null, ours, new ServiceReference<?>[] {mine})));
        assertNull(ShellSession.gogoShell(proxy(BundleContext.class, null, ours, null)));
    }

    /** A reference whose getBundle is {@code bundle}; a context whose own bundle is {@code self} and lists refs. */
    @SuppressWarnings("unchecked")
    private static <T> T proxy(Class<T> type, Bundle bundle, Object... context) {
        return (T) Proxy.newProxyInstance(WordedScriptsTest.class.getClassLoader(), new Class<?>[] {type},
                (p, method, args) -> switch (method.getName()) {
                case "getBundle" -> type == BundleContext.class ? context[0] : bundle;
                case "getServiceReferences" -> context[1];
                case "hashCode" -> System.identityHashCode(p);
                case "equals" -> p == args[0];
                default -> null;
                });
    }
}
