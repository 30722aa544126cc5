// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel patch at work (RFC point 6): freeing an FS DAX folio of refdax's pagemap calls
 * the pagemap's folio_free, which refdax counts, traces, and which ftrace can name.
 */
#include "refdax_util.h"
#include "kselftest_harness.h"

FIXTURE(notify)
{
	unsigned long last_pfn;
};

FIXTURE_SETUP(notify)
{
	if (!refdax_loaded()) {
		if (!getenv("REFDAX_KO"))
			SKIP(return, "no refdax range set aside (/run/refdax.env)");
		ASSERT_EQ(0, refdax_load_default());
	}
	self->last_pfn = (env_u64("REFDAX_PHYS") + env_u64("REFDAX_SIZE")) / 4096 - 1;
}

FIXTURE_TEARDOWN(notify)
{
	write_file(TRACEFS "/events/refdax/refdax_folio_free/enable", "0");
	write_file(TRACEFS "/current_tracer", "nop");
	write_file(TRACEFS "/set_ftrace_filter", "");
}

TEST_F(notify, stats_has_every_counter)
{
	static const char *const keys[] = {
		"notify_mode", "phys_addr", "pages_total", "folios_referenced", "pte_faults",
		"pmd_faults", "mmap_inserts", "folio_free_calls", "busy_released", "blocks_total",
		"blocks_free", "blocks_busy", "probes",
	};
	char *stats = read_file(REFDAX_STATS);

	ASSERT_NE(NULL, stats);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char want[80];

		snprintf(want, sizeof(want), "%s ", keys[i]);
		EXPECT_NE(NULL, strstr(stats, want)) TH_LOG("no '%s' in stats", keys[i]);
	}
	free(stats);
}

TEST_F(notify, kernel_calls_folio_free_for_fs_dax)
{
	long long before = refdax_stat("folio_free_calls");

	NEEDS_FOLIO_FREE();
	if (!refdax_stat_is("notify_mode", "folio_free"))
		SKIP(return, "stock kernel: folio_free is not called for FS DAX folios");
	ASSERT_LE(0, before);
	ASSERT_EQ(0, write_file(REFDAX_DEBUGFS "/probe_free", "1"));
	ASSERT_EQ(before + 1, refdax_stat("folio_free_calls"));
}

TEST_F(notify, free_is_traced)
{
	char want[64], *trace;

	NEEDS_FOLIO_FREE();
	if (!refdax_stat_is("notify_mode", "folio_free"))
		SKIP(return, "stock kernel: folio_free is not called for FS DAX folios");
	ASSERT_EQ(0, write_file(TRACEFS "/events/refdax/refdax_folio_free/enable", "1"));
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	ASSERT_EQ(0, write_file(REFDAX_DEBUGFS "/probe_free", "1"));
	ASSERT_EQ(0, write_file(TRACEFS "/events/refdax/refdax_folio_free/enable", "0"));
	trace = read_file(TRACEFS "/trace");
	ASSERT_NE(NULL, trace);
	snprintf(want, sizeof(want), "refdax_folio_free: pfn=0x%lx order=0 ", self->last_pfn);
	EXPECT_NE(NULL, strstr(trace, want)) TH_LOG("no '%s' in:\n%s", want, trace);
	free(trace);
}

TEST_F(notify, function_tracer_names_the_callback)
{
	char *trace;

	NEEDS_FOLIO_FREE();
	if (!refdax_stat_is("notify_mode", "folio_free"))
		SKIP(return, "stock kernel: folio_free is not called for FS DAX folios");
	ASSERT_EQ(0, write_file(TRACEFS "/set_ftrace_filter", "refdax_folio_free"));
	ASSERT_EQ(0, write_file(TRACEFS "/current_tracer", "function"));
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	ASSERT_EQ(0, write_file(REFDAX_DEBUGFS "/probe_free", "1"));
	/* Changing the tracer would empty the buffer: stop it instead, read, then reset. */
	ASSERT_EQ(0, write_file(TRACEFS "/tracing_on", "0"));
	trace = read_file(TRACEFS "/trace");
	ASSERT_EQ(0, write_file(TRACEFS "/tracing_on", "1"));
	ASSERT_EQ(0, write_file(TRACEFS "/current_tracer", "nop"));
	ASSERT_NE(NULL, trace);
	/* The caller, free_zone_device_folio, shows that the kernel's free path called it. */
	EXPECT_NE(NULL, strstr(trace, "refdax_folio_free <-free_zone_device_folio"))
		TH_LOG("trace:\n%s", trace);
	free(trace);
}

TEST_HARNESS_MAIN
