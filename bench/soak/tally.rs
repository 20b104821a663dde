//! Counting one direction of the soak's traffic: which sequence numbers arrived, how often, and
//! whether a first arrival came after a higher one (reordered).

#[derive(Debug, Default, Clone)]
pub struct Tally {
    seen: Vec<u32>,
    pub distinct: u64,
    pub duplicates: u64,
    pub reordered: u64,
    max: Option<u64>,
}

impl Tally {
    pub fn record(&mut self, seq: u64) {
        let i = seq as usize;
        if i >= self.seen.len() {
            self.seen.resize(i + 1, 0);
        }
        self.seen[i] += 1;
        if self.seen[i] > 1 {
            self.duplicates += 1;
            return;
        }
        self.distinct += 1;
        if self.max.is_some_and(|m| seq < m) {
            self.reordered += 1;
        }
        self.max = Some(self.max.map_or(seq, |m| m.max(seq)));
    }

    pub fn has(&self, seq: u64) -> bool {
        self.seen.get(seq as usize).is_some_and(|n| *n > 0)
    }

    /// The highest number that has arrived.
    pub fn max(&self) -> Option<u64> {
        self.max
    }

    /// Every number that has arrived here, in order.
    pub fn all(&self) -> impl Iterator<Item = u64> + '_ {
        self.seen.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, _)| i as u64)
    }

    /// How many of `wanted` have not arrived, and the first few of them.
    pub fn missing(&self, wanted: impl Iterator<Item = u64>) -> (u64, Vec<u64>) {
        let mut n = 0;
        let mut first = Vec::new();
        for s in wanted.filter(|s| !self.has(*s)) {
            n += 1;
            if first.len() < 10 {
                first.push(s);
            }
        }
        (n, first)
    }
}
