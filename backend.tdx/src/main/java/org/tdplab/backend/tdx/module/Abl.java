package org.tdplab.backend.tdx.module;
public final class Abl {
    public static final boolean REF = Boolean.getBoolean("abl.ref"), INST = Boolean.getBoolean("abl.inst"),
            FW = Boolean.getBoolean("abl.fw"), LOCK = Boolean.getBoolean("abl.lock"), PAMT = Boolean.getBoolean("abl.pamt"),
            CHLD = Boolean.getBoolean("abl.chld");
}
