package org.tdplab.mmu.scenario.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

/** What {@code ./tdplab COMMAND} says when the command fails: never Gogo's or Java's own words. */
class CommandLineTest {
    @Test
    void argumentsNoMethodTakesAreNamedWithWhatTheCommandDoes() {
        IllegalArgumentException gogo = new IllegalArgumentException("Cannot coerce backends(String) to any of [()]");
        assertEquals("unexpected arguments 'extra' (backends: list every backend)",
                CommandLine.problem("backends", List.of("extra"), gogo, "list every backend"));
        assertEquals("unexpected arguments 'a b'; try './tdplab help'",
                CommandLine.problem("vms", List.of("a", "b"), gogo, null));
    }

    @Test
    void aCommandsOwnMessageStandsAndNoneIsExplained() {
        assertEquals("--x: no such option", CommandLine.problem("run", List.of("--x"),
                new IllegalArgumentException("--x: no such option"), "run scenario files"));
        assertEquals("bad arguments; try './tdplab run --help'",
                CommandLine.problem("run", List.of(), new IllegalArgumentException(), "run scenario files"));
        assertEquals("failed unexpectedly (a bug in tdplab; TDPLAB_JAVA_OPTS=-Dtdplab.debug=true shows where)",
                CommandLine.problem("run", List.of(), new NullPointerException(), "run scenario files"));
    }
}
