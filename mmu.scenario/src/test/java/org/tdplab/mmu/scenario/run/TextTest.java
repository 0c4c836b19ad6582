package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class TextTest {
    private static RuntimeException thrownAt(String... classes) {
        RuntimeException e = new NullPointerException();
        StackTraceElement[] at = new StackTraceElement[classes.length];
        for (int i = 0; i < classes.length; i++)
            at[i] = new StackTraceElement(classes[i], "m" + i, classes[i].substring(classes[i].lastIndexOf('.') + 1)
                    + ".java", 10 + i);
        e.setStackTrace(at);
        return e;
    }

    @Test
    void aBugIsLaidAtTheDoorOfTheFirstCodeOutsideTheJdk() {
        assertEquals("internal error in com.example.realm (not tdplab's code; a backend's?): a null reference "
                + "(at RealmVm.m1, RealmVm.java:11)", Text.internalError(thrownAt("java.util.HashMap",
                        "com.example.realm.RealmVm", "org.tdplab.mmu.tdp.vm.Conversions")));
        assertEquals("internal error of the model, a bug in tdplab: a null reference (at Conversions.m1, "
                + "Conversions.java:11)", Text.internalError(thrownAt("java.util.Objects",
                        "org.tdplab.mmu.tdp.vm.Conversions", "com.example.realm.RealmVm")));
        assertEquals("internal error of the model, a bug in tdplab: a null reference",
                Text.internalError(thrownAt("java.util.Objects")));
        assertEquals("internal error of the model, a bug in tdplab: a null reference (at JsonReport.m1, "
                + "JsonReport.java:11)", Text.internalError(thrownAt("com.google.gson.Gson",
                        "org.tdplab.mmu.scenario.report.JsonReport")), "a library's throw is its caller's bug");
    }
}
