fn main() -> std::process::ExitCode {
    let mut opts = masim::gui::GuiOptions::default();
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--screenshot" => {
                opts.screenshot = args.get(i + 1).map(Into::into);
                i += 1;
            }
            "--after-ticks" => {
                opts.after_ticks = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(0);
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    masim::gui::run(opts)
}
