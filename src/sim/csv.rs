//! How masim writes a value in a CSV file, the same everywhere: numbers that print the same
//! when equal, text that pandas and R read back as written.

/// Formats a number for CSV so that equal values always print the same: whole numbers
/// without a fraction, others in the shortest form that reads back exactly (scientific
/// notation for very small or large magnitudes).
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        String::new()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

/// Values pandas (`read_csv`'s default `na_values`) or R (`read.csv`'s `na.strings`) would
/// read as missing.
const NA_WORDS: [&str; 19] = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
    "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// A text cell for CSV: quoted when it holds a comma, quote or line break; a word pandas
/// or R would read as missing (`None`, `NA`) is written in single quotes, `'None'`, so both
/// keep it as a string (docs/experiments.md).
pub fn csv_cell(v: &str) -> String {
    let v = if NA_WORDS.contains(&v) { format!("'{v}'") } else { v.to_string() };
    if v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_back_as_written() {
        assert_eq!(csv_cell("Decentralized"), "Decentralized");
        assert_eq!(csv_cell("None"), "'None'");
        assert_eq!(csv_cell("NA"), "'NA'");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(0.1), "0.1");
        assert_eq!(num(f64::NAN), "");
    }
}
