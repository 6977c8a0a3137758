//! `cargo bench -p duet-tui`: one frame of the dashboard with 50 pairs (goal: at most 16 ms).
//! A plain main (criterion is not in the workspace); `DUET_BENCH_SMOKE=1` runs a few frames.

use std::time::{Duration, Instant};

use duet_tui::fixtures::{self, NOW_MS};
use duet_tui::{App, Connection, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() {
    // Smoke mode (scripts/bench-smoke.sh) runs the unoptimised dev build on a busy machine:
    // it checks that frames are drawn, not the time goal, which is for this bench's own build.
    let smoke = std::env::var_os("DUET_BENCH_SMOKE").is_some();
    let frames: u32 = if smoke { 5 } else { 500 };
    let app = App::new(fixtures::many(50), Connection::Live, NOW_MS);
    for (width, height) in [(80, 24), (200, 60)] {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        let mut times: Vec<Duration> = (0..frames)
            .map(|_| {
                let start = Instant::now();
                terminal.draw(|frame| render(&app, frame)).unwrap();
                start.elapsed()
            })
            .collect();
        times.sort();
        let median = times[times.len() / 2];
        let worst = times[times.len() - 1];
        println!(
            "render 50 pairs at {width}x{height}: median {median:?}, max {worst:?} over {frames} frames (goal: <= 16ms)"
        );
        // What was measured was the table: the first pairs are on screen.
        let buffer = terminal.backend().buffer();
        let text: String = buffer.content().iter().map(|c| c.symbol()).collect();
        assert!(text.contains("task-00"), "nothing drawn");
        assert!(
            smoke || median <= Duration::from_millis(16),
            "a frame took {median:?}"
        );
    }
}
