//! results.json rendered as markdown tables (report.md); bench/RESULTS.md copies them.

use std::fmt::Write as _;

use super::cold_start::{max, min};
use super::memory::mb;
use super::{Results, cold_start, commands, cost, memory, ratio, size, streaming, timers};
use crate::loadgen::stats::ms;

fn yes_no(pass: bool) -> &'static str {
    if pass { "✅ pass" } else { "❌ fail" }
}

fn counts(map: &std::collections::BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(s, "# Ballsy benchmark report\n");
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| Command | `{}` |", m.command);
    let _ = writeln!(s, "| Commit | `{}` |", m.commit);
    let _ = writeln!(
        s,
        "| Started | {} ({:.0} s) |",
        m.started_at, r.duration_secs
    );
    let _ = writeln!(
        s,
        "| Machine | {} cores, {}, {} MiB RAM, Linux {}, open files {} |",
        m.cores, m.cpu_model, m.memory_total_mib, m.kernel, m.open_files_limit
    );
    let _ = writeln!(
        s,
        "| Ballsy binary | `{}` |",
        r.settings.ballsy_bin.display()
    );
    let _ = writeln!(
        s,
        "| Databases | SQLite (fresh file per run){} |",
        match (&r.settings.postgres_version, r.settings.postgres_socket) {
            (Some(v), true) => format!(
                ", PostgreSQL {v} over its local unix socket (as Cloud Run reaches Cloud SQL) and over TCP (fresh database per run)"
            ),
            (Some(v), false) => format!(", PostgreSQL {v} over TCP (fresh database per run)"),
            (None, _) => "; PostgreSQL skipped (set BENCH_DATABASE_URL)".to_owned(),
        }
    );
    let _ = writeln!(
        s,
        "\nServers run as child processes on 127.0.0.1; the load generator and the fake Gemini run in the `bench` process, on the same {} cores (nothing pinned).\n",
        m.cores
    );

    if !r.checks.is_empty() {
        let _ = writeln!(s, "## Targets\n");
        let _ = writeln!(
            s,
            "| Scenario | Target | Measured | Result |\n|---|---|---|---|"
        );
        for c in &r.checks {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                c.scenario,
                c.target,
                c.measured,
                yes_no(c.pass)
            );
        }
        s.push('\n');
    }

    for section in &r.sections {
        s.push_str(section);
    }

    if !r.errors.is_empty() {
        let _ = writeln!(s, "## Errors\n");
        for e in &r.errors {
            let _ = writeln!(s, "- {e}");
        }
        s.push('\n');
    }
    s
}

pub(super) fn commands(c: &commands::CommandsResult, s: &mut String) {
    let _ = writeln!(s, "## 1. Rule-based commands over the WebSocket\n");
    let _ = writeln!(
        s,
        "{} clients, one command in flight each, {} sockets per client (used in turn), {} warm-up commands per client, then {} s measured. Commands: {}. Ballsy clients each have their own session (`POST /api/session`); every acknowledged command is then looked up in `turns`. The floor is measured before and after the Ballsy runs; percentages and ratios are against the mean of the two ({:.0}/s, p99 {}).\n",
        c.clients,
        c.connections_per_client,
        c.warmup_per_client,
        c.measured_secs,
        c.commands
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
        c.floor_throughput_per_sec,
        ms(c.floor_p99_us as u64)
    );
    let _ = writeln!(
        s,
        "| Run | Sockets/client | Throughput | % of floor | p50 | p90 | p99 | max | p99 ÷ floor p99 | Sent | Acked | Lost | Errors | Server CPU / command | Server CPU | Loadgen CPU | Server RSS (peak) | Log lines | Database check |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let floors = [&c.floor, &c.floor_after];
    for run in floors.into_iter().chain(c.runs.iter()) {
        let is_floor = run.target.is_none();
        let _ = writeln!(
            s,
            "| {} | {} | {:.0}/s | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} µs | {:.1} s | {:.1} s | {:.1} MB ({:.1}) | {} | {} |",
            run.name,
            run.connections_per_client,
            run.report.throughput_per_sec,
            if is_floor {
                format!(
                    "{:.0}%",
                    ratio(run.report.throughput_per_sec, c.floor_throughput_per_sec) * 100.0
                )
            } else {
                format!("{:.1}%", run.throughput_vs_floor * 100.0)
            },
            ms(run.report.latency.p50_us),
            ms(run.report.latency.p90_us),
            ms(run.report.latency.p99_us),
            ms(run.report.latency.max_us),
            if is_floor {
                format!(
                    "{:.2}×",
                    ratio(run.report.latency.p99_us as f64, c.floor_p99_us)
                )
            } else {
                format!("{:.2}×", run.p99_vs_floor)
            },
            run.report.sent,
            run.report.acknowledged,
            run.report.lost,
            counts(&run.report.errors),
            run.server_cpu_per_command_us,
            run.server_cpu_secs,
            run.loadgen_cpu_secs,
            mb(run.server_memory.rss_kib),
            mb(run.server_memory.hwm_kib),
            run.log_lines,
            run.verification
                .as_ref()
                .map_or("—".to_owned(), |v| format!(
                    "{} rows / {} acked: {} missing, {} unexpected{}",
                    v.rows,
                    v.acknowledged,
                    v.missing,
                    v.unexpected,
                    if v.stored_unresolved > 0 {
                        format!(", {} stored without reply", v.stored_unresolved)
                    } else {
                        String::new()
                    }
                )),
        );
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "Against the durable floor of the same database and transport (a bare axum server that commits one row per exchange by group commit before replying), measured right before and right after each Ballsy run:\n"
    );
    let _ = writeln!(
        s,
        "| Run | Floor before | Floor after | Ballsy | ÷ floor | Floor p99 | Ballsy p99 | ÷ floor | Floor CPU / command | Ballsy CPU / command | ÷ floor |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for run in c.runs.iter().filter(|r| r.durable.is_some()) {
        let Some(d) = &run.durable else { continue };
        let _ = writeln!(
            s,
            "| {} | {:.0}/s | {:.0}/s | {:.0}/s | {:.2} | {} | {} | {:.2}× | {:.0} µs | {:.0} µs | {:.2}× |",
            run.name,
            d.before.report.throughput_per_sec,
            d.after.report.throughput_per_sec,
            run.report.throughput_per_sec,
            d.throughput_ratio,
            ms(d.p99_us as u64),
            ms(run.report.latency.p99_us),
            d.p99_ratio,
            d.cpu_per_command_us,
            run.server_cpu_per_command_us,
            d.cpu_ratio,
        );
    }
    s.push('\n');
}

pub(super) fn streaming(st: &streaming::StreamingResult, s: &mut String) {
    let _ = writeln!(s, "## 2. Streaming AI replies\n");
    let _ = writeln!(
        s,
        "{} sessions, {} questions each, one after the other; the fake Gemini waits {} ms before the first chunk and sends {} chunks {} ms apart, each stamped with its send time. Added delay = client receipt − stamp, same clock. \"Spread\": session *i* starts *i*/{} of the spread after all are connected (0 = all at once). The floor reads the fake's SSE directly, without Ballsy.\n",
        st.sessions,
        st.questions_per_session,
        st.ttft_ms,
        st.chunks,
        st.chunk_delay_ms,
        st.sessions
    );
    let _ = writeln!(
        s,
        "| Run | Spread | Added p50 | p90 | p99 | p99.9 | max | p99 over floor | Deltas | First delta p50 / p99 | Last delta → reply p50 / p99 | Turn p99 | Complete | Lost | Errors | Max in flight | Server CPU | Server RSS (peak) |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let floors = [
        ("floor (direct to fake)", st.spread_ms, &st.floor),
        ("floor (direct to fake)", 0, &st.floor_burst),
    ];
    for (name, spread, f) in floors {
        let _ = writeln!(
            s,
            "| {name} | {spread} ms | {} | {} | {} | {} | {} | — | {} | {} / {} | — | {} | {}/{} | {} | {} | {} | — | — |",
            ms(f.added_delay.p50_us),
            ms(f.added_delay.p90_us),
            ms(f.added_delay.p99_us),
            ms(f.added_delay.p999_us),
            ms(f.added_delay.max_us),
            f.deltas,
            ms(f.first_delta.p50_us),
            ms(f.first_delta.p99_us),
            ms(f.turn.p99_us),
            f.completed,
            f.questions,
            f.lost,
            counts(&f.errors),
            f.max_in_flight
        );
    }
    for run in &st.runs {
        let f = &run.report;
        let _ = writeln!(
            s,
            "| {} | {} ms | {} | {} | {} | {} | {} | {:+.2} ms | {} | {} / {} | {} / {} | {} | {}/{} | {} | {} | {} | {:.1} s | {:.1} MB ({:.1}) |",
            run.name,
            run.spread_ms,
            ms(f.added_delay.p50_us),
            ms(f.added_delay.p90_us),
            ms(f.added_delay.p99_us),
            ms(f.added_delay.p999_us),
            ms(f.added_delay.max_us),
            run.p99_over_floor_us as f64 / 1000.0,
            f.deltas,
            ms(f.first_delta.p50_us),
            ms(f.first_delta.p99_us),
            ms(f.final_after_last_delta.p50_us),
            ms(f.final_after_last_delta.p99_us),
            ms(f.turn.p99_us),
            f.completed,
            f.questions,
            f.lost,
            counts(&f.errors),
            f.max_in_flight,
            run.server_cpu_secs,
            mb(run.server_memory.rss_kib),
            mb(run.server_memory.hwm_kib),
        );
    }
    let _ = writeln!(
        s,
        "\nUpstream streams the fake saw abandoned mid-way: {}.\n",
        st.fake_dropped_streams
    );
}

pub(super) fn cold_start(c: &cold_start::ColdStartResult, s: &mut String) {
    let _ = writeln!(s, "## 3. Cold start\n");
    let _ = writeln!(
        s,
        "Spawn of the release binary to the first `200`, polled every {} µs; migrations run on start against an empty database (the database itself exists beforehand). {} runs per backend.\n",
        c.poll_interval_us, c.runs_per_backend
    );
    let _ = writeln!(
        s,
        "| Backend | /health median | /health range | /ready median | /ready range | /ready, schema already current | All runs /health (ms) | All runs /ready (ms) |\n|---|---|---|---|---|---|---|---|"
    );
    for b in &c.backends {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "| {} | {:.1} ms | {:.1}–{:.1} ms | {:.1} ms | {:.1}–{:.1} ms | {:.1} ms ({:.1}–{:.1}) | {} | {} |",
            b.label,
            b.health_median_ms,
            min(&b.health_ms),
            max(&b.health_ms),
            b.ready_median_ms,
            min(&b.ready_ms),
            max(&b.ready_ms),
            b.ready_current_median_ms,
            min(&b.ready_current_ms),
            max(&b.ready_current_ms),
            list(&b.health_ms),
            list(&b.ready_ms)
        );
    }
    s.push('\n');
}

pub(super) fn memory(mem: &memory::MemoryResult, s: &mut String) {
    let _ = writeln!(s, "## 4. Memory\n");
    let _ = writeln!(
        s,
        "RSS (`VmRSS`) and peak (`VmHWM`) from `/proc/PID/status`, in MB (10⁶ bytes). Idle = ready, 1 s after start, nothing connected; then {} idle WebSockets are opened (Ballsy: all with one session token) and held 2 s; then closed.\n",
        mem.connections
    );
    let _ = writeln!(
        s,
        "| Server | Idle RSS | With {} sockets | Per socket | Peak | After close | Open fds: idle / loaded / after close | Opened | Failed | Open at measurement | Connect time |\n|---|---|---|---|---|---|---|---|---|---|---|",
        mem.connections
    );
    for run in &mem.servers {
        let _ = writeln!(
            s,
            "| {} | {:.1} MB | {:.1} MB | {:.1} KiB | {:.1} MB | {:.1} MB | {} / {} / {} | {} | {} | {} | {:.1} s |",
            run.name,
            mb(run.idle.rss_kib),
            mb(run.loaded.rss_kib),
            run.per_connection_kib,
            mb(run.loaded.hwm_kib),
            mb(run.after_close.rss_kib),
            run.idle.open_fds,
            run.loaded.open_fds,
            run.after_close.open_fds,
            run.opened,
            run.failed,
            run.open_at_measurement,
            run.connect_secs
        );
    }
    s.push('\n');
}

pub(super) fn size(size: &size::SizeResult, s: &mut String) {
    let _ = writeln!(s, "## 5. Size\n");
    let _ = writeln!(
        s,
        "| Binary | Bytes | MB | Stripped | gzip -6 |\n|---|---|---|---|---|\n| `{}` | {} | {:.2} | {} | {} |\n",
        size.path,
        size.bytes,
        size.bytes as f64 / 1e6,
        if size.has_symbol_table { "no" } else { "yes" },
        size.gzip_bytes
            .map_or("—".to_owned(), |g| format!("{:.2} MB", g as f64 / 1e6))
    );
}

pub(super) fn cost(c: &cost::CostResult, s: &mut String) {
    let _ = writeln!(s, "## 6. Cost per AI turn\n");
    let _ = writeln!(
        s,
        "One question after three earlier exchanges (the default `CONTEXT_TURNS=6` messages of context), default persona, answers of typical length. Measured from the request the fake Gemini recorded; tokens as the fake reported them in `usageMetadata` (characters ÷ 4, the declarations' JSON included), priced at gemini-3.5-flash-lite's ${:.2} / ${:.2} per million input / output tokens.\n",
        c.price_input_per_m, c.price_output_per_m
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(
        s,
        "| System prompt | {} chars |\n| Context ({} messages) | {} chars |\n| Question | {} chars |\n| Function declarations (`tools`, billed as input) | {} chars |\n| Request body | {} bytes, {} `contents` |",
        c.system_chars,
        c.context_messages,
        c.history_chars,
        c.question_chars,
        c.tools_chars,
        c.request_body_bytes,
        c.contents
    );
    let _ = writeln!(
        s,
        "| Prompt tokens | {} reported ({:.0} at 4 chars/token) |\n| Output tokens | {} reported ({:.0} at 4 chars/token; `maxOutputTokens` {}) |\n| Thinking | `{}` (thinking tokens are billed as output; not modelled) |",
        c.prompt_tokens_reported
            .map_or("—".into(), |t| t.to_string()),
        c.prompt_tokens_estimate,
        c.output_tokens_reported
            .map_or("—".into(), |t| t.to_string()),
        c.output_tokens_estimate,
        c.max_output_tokens.map_or("—".into(), |t| t.to_string()),
        c.thinking_config
            .as_ref()
            .map_or("none".to_owned(), |v| v.to_string())
    );
    let _ = writeln!(
        s,
        "| Cost per turn | ${:.6} input + ${:.6} output = **${:.6}** |\n| Per 1,000 turns | **${:.3}** |\n",
        c.input_cost_usd, c.output_cost_usd, c.cost_per_turn_usd, c.cost_per_1000_turns_usd
    );
}

pub(super) fn timers(t: &timers::TimersResult, s: &mut String) {
    let _ = writeln!(s, "## 7. Timer sweep\n");
    let _ = writeln!(
        s,
        "{} users each set 20 timers through `POST /api/command` (2–6 days away, none due during the measurement). Server CPU per second of wall time over {:.0} s idle windows, before the timers were set and after.\n",
        t.pending / 20,
        t.window_secs
    );
    let _ = writeln!(
        s,
        "| Run | CPU, nothing pending | CPU, {} pending | Set | Listed | Time to set |\n|---|---|---|---|---|---|",
        t.pending
    );
    for run in &t.runs {
        let _ = writeln!(
            s,
            "| ballsy {} | {:.3} ms/s | {:.3} ms/s | {} | {} | {:.1} s |",
            run.target.label(),
            run.idle_cpu_ms_per_sec,
            run.pending_cpu_ms_per_sec,
            run.timers_set,
            run.timers_listed,
            run.set_secs
        );
    }
    s.push('\n');
}
