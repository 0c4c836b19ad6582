package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

/** The attribute lane follows the operation stream: merges, splits, aliases, and undoes what failed. */
class AttributeLanesTest {
    private final AttributeLanes lanes = new AttributeLanes();

    private List<String> lane(String vm) {
        return lanes.of(vm).stream().map(a -> Long.toHexString(a.gpa()) + "+" + Long.toHexString(a.size())).toList();
    }

    @Test
    void privateRangesMergeAndSharedOnesSplitThem() {
        lanes.vmOperation("td", "KVM_CREATE_VM type=tdx vcpus=1 gpaw=48 shared_bit=47");
        lanes.vmOperation("td", "KVM_SET_MEMORY_ATTRIBUTES gpa=0x0 size=0x200000 private=1");
        lanes.vmOperation("td", "KVM_SET_MEMORY_ATTRIBUTES gpa=0x200000 size=0x200000 private=1");
        assertEquals(List.of("0+400000"), lane("td"));
        // a guest names the range by its shared alias
        lanes.vmOperation("td", "KVM_HC_MAP_GPA_RANGE vcpu=0 gpa=0x800000003000 size=0x1000 private=0");
        assertEquals(List.of("0+3000", "4000+3fc000"), lane("td"));
        lanes.vmOperation("td", "KVM_HC_MAP_GPA_RANGE vcpu=0 gpa=0x3000 size=0x1000 private=1");
        assertEquals(List.of("0+400000"), lane("td"));
        assertEquals(List.of(), lane("other"));
    }

    @Test
    void aFailedOperationChangesNothing() {
        lanes.vmOperation("vm", "KVM_CREATE_VM type=sw_protected vcpus=1 gpaw=48");
        lanes.vmOperation("vm", "KVM_SET_MEMORY_ATTRIBUTES gpa=0x1000 size=0x2000 private=1");
        lanes.vmOperation("vm", "KVM_SET_MEMORY_ATTRIBUTES gpa=0x0 size=0x10000 private=0");
        lanes.vmOperationFailed("vm", "EINVAL");
        assertEquals(List.of("1000+2000"), lane("vm"));
        lanes.vmOperation("vm", "KVM_SET_MEMORY_ATTRIBUTES gpa=0x2000 size=0x4000 private=1");
        lanes.vmOperationFailed("vm", "EFAULT");
        assertEquals(List.of("1000+2000"), lane("vm"));
        // a failure after an operation that drew nothing undoes nothing
        lanes.vmOperation("vm", "KVM_SET_USER_MEMORY_REGION2 slot=0 size=0x0");
        lanes.vmOperationFailed("vm", "EINVAL");
        assertEquals(List.of("1000+2000"), lane("vm"));
    }
}
