package org.tdplab.mmu.scenario.trace;

/**
 * One event line of a {@code trace-cmd report}: {@code TASK-PID [CPU] SECONDS: NAME: FIELDS}. The task and pid
 * together name the thread that logged it ({@link #thread()}); {@code line} is its 1-based line in the file.
 */
public record TraceEvent(int line, String task, int pid, int cpu, String name, String fields) {
    public String thread() {
        return task + "-" + pid;
    }
}
