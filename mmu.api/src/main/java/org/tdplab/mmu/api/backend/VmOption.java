package org.tdplab.mmu.api.backend;

/**
 * A {@code k=v} option a VM type takes at creation ({@code vm.create VM type=T k=v…}), for help, completion and the
 * reference documentation. A backend refuses every option it does not list with {@code EINVAL}.
 *
 * @param key the option's key, e.g. {@code module}
 * @param values the values it takes as users write them, e.g. {@code 1.0|1.5}, {@code on|off}, {@code N}
 * @param summary one line: what it changes, and its default
 */
public record VmOption(String key, String values, String summary) {
}
