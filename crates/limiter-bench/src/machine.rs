//! What the suite ran on.

use std::fmt;

/// The machine and its load, read from `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Cores this process may use, as `nproc` counts them.
    pub cores: usize,
    /// The CPU's `model name` from `/proc/cpuinfo`, or `unknown`.
    pub cpu: String,
}

impl Machine {
    /// Reads the machine this process runs on.
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpu_model(&cpuinfo).unwrap_or("unknown").to_owned(),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cores (nproc), {}", self.cores, self.cpu)
    }
}

/// The first `model name` in a `/proc/cpuinfo` text.
pub fn cpu_model(cpuinfo: &str) -> Option<&str> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim())
    })
}

/// The 1-minute load average from `/proc/loadavg`, or `?` if unreadable.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_model_is_the_first_model_name() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\
                       processor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(cpuinfo), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("processor\t: 0\n"), None);
    }

    #[test]
    fn this_machine_has_cores_and_a_load() {
        let machine = Machine::read();
        assert!(machine.cores >= 1);
        assert!(machine.to_string().starts_with(&format!("{} cores (nproc), ", machine.cores)));
        assert!(load_average().parse::<f64>().is_ok_and(|load| load >= 0.0));
    }
}
