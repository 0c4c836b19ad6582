package org.tdplab.mmu.api.backend;

import java.util.Map;

/**
 * What the core knows about one discovered backend service.
 *
 * @param vmType the VM type it serves
 * @param properties its {@code mmu.cap.*} service properties (without the prefix), rendered as text; the four the
 *     core knows ({@code mirrored_pt}, {@code private_mem}, {@code protected_state}, {@code shared_bit}) agree with
 *     {@link Backend#capabilities} (a service whose properties contradict them is not bound), and those the service
 *     left out are derived from it
 * @param bundle the symbolic name of the bundle that registered it
 * @param version that bundle's version
 * @param serviceId the service id
 */
public record BackendInfo(String vmType, Map<String, String> properties, String bundle, String version,
        long serviceId) {
}
