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
	/* Every line the header names, in its order. */
	static const char *const keys[] = {
		REFDAX_STAT_NOTIFY_MODE,
		REFDAX_STAT_PHYS_ADDR,
		REFDAX_STAT_PAGES_TOTAL,
		REFDAX_STAT_FOLIOS_REFERENCED,
		REFDAX_STAT_PTE_FAULTS,
		REFDAX_STAT_PMD_FAULTS,
		REFDAX_STAT_PMD_FOLIOS_BUILT,
		REFDAX_STAT_PMD_FOLIOS_SPLIT,
		REFDAX_STAT_EXTENTS_RELEASED,
		REFDAX_STAT_PMD_FALLBACKS,
		REFDAX_STAT_PMD_FALLBACK_MISALIGNED,
		REFDAX_STAT_PMD_FALLBACK_SHORT_EXTENT,
		REFDAX_STAT_PMD_FALLBACK_FILE_END,
		REFDAX_STAT_PMD_FALLBACK_SUBPAGES_MAPPED,
		REFDAX_STAT_PMD_FALLBACK_PRIVATE_WRITE,
		REFDAX_STAT_PMD_FALLBACK_PTE_ONLY,
		REFDAX_STAT_PMD_FALLBACK_NO_MEMORY,
		REFDAX_STAT_PMD_FALLBACK_POISONED,
		REFDAX_STAT_PMD_FALLBACK_UNSETTLED,
		REFDAX_STAT_FOLIO_FREE_CALLS,
		REFDAX_STAT_BUSY_RELEASED,
		REFDAX_STAT_BLOCKS_TOTAL,
		REFDAX_STAT_BLOCKS_FREE,
		REFDAX_STAT_BLOCKS_BUSY,
		REFDAX_STAT_BLOCKS_QUARANTINED,
		REFDAX_STAT_PAGES_POISONED,
		REFDAX_STAT_PROBES,
		REFDAX_STAT_SCAN_PAGES,
		REFDAX_STAT_SCAN_NS,
	};
	const size_t nkeys = sizeof(keys) / sizeof(keys[0]);
	char *stats = read_file(REFDAX_STATS), *p;
	size_t lines = 0;

	ASSERT_NE(NULL, stats);
	for (size_t i = 0; i < nkeys; i++) {
		char want[80];

		/* Each key starts a line. */
		snprintf(want, sizeof(want), "\n%s ", keys[i]);
		EXPECT_TRUE(!strncmp(stats, want + 1, strlen(want + 1)) || strstr(stats, want))
			TH_LOG("no '%s' line in stats", keys[i]);
	}
	for (p = stats; (p = strchr(p, '\n')); p++)
		lines++;
	/* Nothing else either: a new counter gets its line here. */
	EXPECT_EQ(nkeys, lines);
	/* The fallbacks add up. */
	long long sum = 0;

	for (size_t i = 0; i < nkeys; i++)
		if (!strncmp(keys[i], "pmd_fallback_", strlen("pmd_fallback_")))
			sum += refdax_stat(keys[i]);
	EXPECT_EQ(refdax_stat(REFDAX_STAT_PMD_FALLBACKS), sum);
	free(stats);
}

/*
 * The patch check must not be circular: on a kernel built with the patch series the
 * notification has to arrive, else this fails (and every NEEDS_FOLIO_FREE test with it)
 * instead of skipping.
 */
TEST_F(notify, notify_mode_matches_the_kernel_built)
{
	const char *patches = getenv("REFDAX_KERNEL_PATCHES");

	if (!patches)
		SKIP(return, "REFDAX_KERNEL_PATCHES not set: run from the refdax guest");
	if (!strcmp(patches, "none")) {
		ASSERT_TRUE(refdax_stat_is(REFDAX_STAT_NOTIFY_MODE, REFDAX_NOTIFY_WAKE_VAR));
	} else {
		ASSERT_TRUE(refdax_stat_is(REFDAX_STAT_NOTIFY_MODE, REFDAX_NOTIFY_FOLIO_FREE))
			TH_LOG("kernel built with patches '%s' but refdax saw no folio_free call", patches);
	}
}

TEST_F(notify, kernel_calls_folio_free_for_fs_dax)
{
	long long before = refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS);

	NEEDS_FOLIO_FREE();
	if (!refdax_stat_is(REFDAX_STAT_NOTIFY_MODE, REFDAX_NOTIFY_FOLIO_FREE))
		SKIP(return, "stock kernel: folio_free is not called for FS DAX folios");
	ASSERT_LE(0, before);
	ASSERT_EQ(0, write_file(REFDAX_DEBUGFS "/probe_free", "1"));
	ASSERT_EQ(before + 1, refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS));
}

TEST_F(notify, free_is_traced)
{
	char want[64], *trace;

	NEEDS_FOLIO_FREE();
	if (!refdax_stat_is(REFDAX_STAT_NOTIFY_MODE, REFDAX_NOTIFY_FOLIO_FREE))
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
	if (!refdax_stat_is(REFDAX_STAT_NOTIFY_MODE, REFDAX_NOTIFY_FOLIO_FREE))
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
