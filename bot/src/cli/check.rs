//! `medic check-config`: every problem at once, each with its key.

use std::path::Path;

use crate::settings::{Settings, Sources};

pub fn run(config: Option<&Path>) -> u8 {
    match Settings::load(&Sources::standard(config)) {
        Ok(loaded) => {
            let s = &loaded.settings;
            match &s.source {
                Some(p) => println!("Configuration OK: {}", p.display()),
                None => println!("Configuration OK: no file (defaults and MEDIC__* environment)"),
            }
            println!("  server.bind: {}", s.server.bind);
            for line in s.describe() {
                println!("  {line}");
            }
            for section in &s.not_yet_served {
                println!("  note: [{section}] is accepted but not served by this version");
            }
            for w in &loaded.warnings {
                println!("  warning: {w}");
            }
            0
        }
        Err(problems) => {
            println!("Configuration has {} problem(s):", problems.len());
            for p in problems {
                println!("  {p}");
            }
            1
        }
    }
}
