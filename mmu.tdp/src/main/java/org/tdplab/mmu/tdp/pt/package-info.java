/**
 * Page tables as packed primitive arrays: the table pool, RCU-deferred freeing and the one walker
 * ({@link org.tdplab.mmu.tdp.pt.TdpIter}). Private to the core bundle: nothing here is exported.
 */
package org.tdplab.mmu.tdp.pt;
