/* runtime-lite firmware startup for Cortex-M boards under QEMU (and any board whose loader places
 * .data in RAM): vector table, FPU/MVE enable, .bss clear, semihosting stdio, exit(main()).
 * Used only by the optional `--firmware` test harness; a product links the model library into its
 * own firmware and startup code instead.
 *
 * newlib's rdimon crt0 is deliberately not used: it sizes the stack and heap with the semihosting
 * SYS_HEAPINFO call, whose answer under QEMU 7.2 lies outside the memory map of mps3-an547. */
#include <stdlib.h>

extern unsigned long __stack_top, __bss_start__, __bss_end__;
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern void _exit(int);
extern int main(void);

void _init(void) {}
void _fini(void) {}

/* Faults and unexpected interrupts: say so over semihosting (SYS_WRITE0 directly, since stdio may
 * be what faulted) and exit with status 99 rather than hang the emulator. */
void rl_fault_handler(void) {
  static const char message[] = "FAULT: unexpected exception\n";
  register int op __asm("r0") = 0x04;
  register const char* text __asm("r1") = message;
  __asm volatile("bkpt 0xab" : "+r"(op) : "r"(text) : "memory");
  _exit(99);
}

__attribute__((noreturn, used)) static void rl_reset_c(void) {
  for (volatile unsigned long* p = &__bss_start__; p < &__bss_end__;) *p++ = 0;
  initialise_monitor_handles();
  __libc_init_array();
  exit(main()); /* semihosting SYS_EXIT_EXTENDED: QEMU exits with main's status */
}

/* Naked so that no floating-point or MVE instruction can run before CPACR grants CP10/CP11. */
__attribute__((naked, noreturn)) void rl_reset_handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
  __asm volatile(
      "ldr r0, =0xE000ED88\n" /* SCB->CPACR */
      "ldr r1, [r0]\n"
      "ldr r2, =0x00F00000\n" /* CP10 and CP11: full access */
      "orr r1, r1, r2\n"
      "str r1, [r0]\n"
      "dsb\n"
      "isb\n");
#endif
  __asm volatile("b rl_reset_c");
}

/* SysTick: a fault unless the firmware defines it (the instruction-counting harness does). */
void rl_systick_handler(void) __attribute__((weak, alias("rl_fault_handler")));

__attribute__((section(".isr_vector"), used)) void (*const rl_vectors[16])(void) = {
    (void (*)(void))&__stack_top, rl_reset_handler, rl_fault_handler, rl_fault_handler, rl_fault_handler,
    rl_fault_handler, rl_fault_handler, 0, 0, 0, 0, rl_fault_handler, rl_fault_handler, 0, rl_fault_handler,
    rl_systick_handler,
};
