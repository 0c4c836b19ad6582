/**
 * SPTE encoding (x86 EPT layout). Private to the core bundle: nothing here is exported.
 */
package org.tdplab.mmu.tdp.spte;
