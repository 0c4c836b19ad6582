package org.tdplab.mmu.scenario.replay;

import java.util.List;

/**
 * A step whose replay differs from the trace: SPTE changes only the trace shows, changes only the replay made,
 * or another result (a fault's {@code RET_PF_*} or exit, an operation's errno, or "skipped" when the replay's VM type
 * cannot run the operation).
 */
record Difference(Step step, List<Object> traceOnly, List<Object> replayOnly, boolean resultDiffers,
        String traceResult, String replayResult) {
}
