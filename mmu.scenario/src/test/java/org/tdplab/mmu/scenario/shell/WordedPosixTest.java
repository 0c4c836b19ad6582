package org.tdplab.mmu.scenario.shell;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;

import org.junit.jupiter.api.Test;

class WordedPosixTest {
    @Test
    void aGlobsMatchesAreWordsOfTheirOwn() {
        Object[] argv = {"grep", "-n", "x", List.of("/tmp/a.log", "/tmp/b.log"), "c.log"};
        assertArrayEquals(new String[] {"grep", "-n", "x", "/tmp/a.log", "/tmp/b.log", "c.log"},
                WordedPosix.words(argv));
    }

    @Test
    void plainWordsStayAsTheyAre() {
        assertArrayEquals(new String[] {"ls", "-l", "7"}, WordedPosix.words(new Object[] {"ls", "-l", 7}));
        assertArrayEquals(new String[] {"ls"}, WordedPosix.words(new Object[] {"ls", List.of()}));
        assertNull(WordedPosix.words(null));
    }
}
