package org.tdplab.mmu.tdp.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.osgi.framework.BundleContext;

class LoadWatchTest {
    @Test
    void aBrokenJarIsSaidOnceWhileItStaysBrokenAndAgainWhenItsReasonChanges() {
        Map<String, String> said = new HashMap<>();
        assertEquals(List.of("a.jar: not a bundle"), LoadWatch.news(said, List.of("a.jar: not a bundle")));
        assertEquals(List.of(), LoadWatch.news(said, List.of("a.jar: not a bundle")), "said already");
        assertEquals(List.of("a.jar: unresolved", "b.jar: no component"),
                LoadWatch.news(said, List.of("a.jar: unresolved", "b.jar: no component")));
        assertEquals(List.of(), LoadWatch.news(said, List.of("b.jar: no component")), "a.jar mended: nothing to say");
        assertEquals(List.of("a.jar: unresolved"),
                LoadWatch.news(said, List.of("a.jar: unresolved", "b.jar: no component")), "broken again");
    }

    @Test
    void withoutALoadFolderNothingIsWatched() {
        BundleContext noFolder = (BundleContext) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] { BundleContext.class }, (proxy, method, args) -> {
                    if (method.getName().equals("getProperty"))
                        return null;
                    throw new AssertionError("a context without a load folder was asked " + method.getName());
                });
        assertNull(LoadWatch.start(noFolder, Set::of));
    }
}
