//! Unit conversions, computed exactly: "convert 5 miles to km", "72 fahrenheit in celsius",
//! "how many ounces in a pound", "3 cups to ml", "100 km/h in mph".
//!
//! Every unit is an exact rational multiple of its dimension's base unit (metre, kilogram,
//! litre, kelvin, metre per second, square metre, bit, second), by definition: 1 inch is
//! 0.0254 m, 1 pound 0.45359237 kg, 1 US cup 236.5882365 ml, 1 acre 4046.8564224 m².
//! Temperatures add an exact offset (°C = K − 273.15, °F = K × 9/5 − 459.67). Results are
//! spoken rounded to three significant digits unless they are whole, then exactly
//! ("5 miles is 8.05 kilometres.", "1 mile is 5,280 feet.").
//!
//! Choices: "ounce"/"oz" is the avoirdupois ounce, but converting it to or from a volume
//! means the US fluid ounce ("how many ounces in a cup" is 8); cups, pints, quarts, gallons,
//! teaspoons and tablespoons are US customary unless "imperial"/"UK" is said (pints and
//! gallons); "ton" is not understood (short, long or metric?), "tonne" and "metric ton" are;
//! a year is 365 days; "kb", "mb", "gb" are decimal bytes (kilobits are "kbit"); "in" is never
//! inches (it is the preposition in "5 miles in km"). "Degrees" alone means Fahrenheit when
//! converting to Celsius and Celsius when converting to Fahrenheit or kelvin.

use std::fmt;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::One;

use crate::assistant::lexer::{self, Token, match_any_phrase, match_phrase};
use crate::assistant::math::Number;
use crate::assistant::numbers;
use crate::assistant::text;

/// What a unit measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Length,
    Mass,
    Volume,
    Temperature,
    Speed,
    Area,
    Data,
    Duration,
}

impl Dimension {
    /// "length", "mass", …, "data size", "duration".
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Length => "length",
            Dimension::Mass => "mass",
            Dimension::Volume => "volume",
            Dimension::Temperature => "temperature",
            Dimension::Speed => "speed",
            Dimension::Area => "area",
            Dimension::Data => "data size",
            Dimension::Duration => "duration",
        }
    }

    /// "a length", "an area".
    fn with_article(self) -> String {
        format!("{} {}", article(self.name()), self.name())
    }
}

/// A unit of measurement. All units live in [`UNITS`]; requests refer to them.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Unit {
    /// Spoken singular: "kilometre", "US cup", "°C".
    pub singular: &'static str,
    /// Spoken plural: "kilometres", "US cups", "°C", "feet", "stone".
    pub plural: &'static str,
    /// Short symbol: "km", "cup", "°C".
    pub symbol: &'static str,
    pub dimension: Dimension,
    /// One of this unit in base units, numerator and denominator.
    scale: (i128, i128),
    /// Added after scaling (temperatures): base = value × scale + offset.
    offset: (i128, i128),
    /// Lowercase names, plurals, abbreviations and spoken forms; tokenized when matched.
    aliases: &'static [&'static str],
}

impl Unit {
    /// The singular or plural name, whichever goes with the spoken number ("1 mile", "1.5
    /// miles", "0.5 miles").
    pub fn name_for(&self, spoken_number: &str) -> &'static str {
        if spoken_number == "1" {
            self.singular
        } else {
            self.plural
        }
    }

    /// Every name this unit is understood by (lowercase).
    pub fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }

    fn scale(&self) -> BigRational {
        BigRational::new(BigInt::from(self.scale.0), BigInt::from(self.scale.1))
    }

    fn offset(&self) -> BigRational {
        BigRational::new(BigInt::from(self.offset.0), BigInt::from(self.offset.1))
    }
}

const NO_OFFSET: (i128, i128) = (0, 1);

const fn unit(
    singular: &'static str,
    plural: &'static str,
    symbol: &'static str,
    dimension: Dimension,
    scale: (i128, i128),
    aliases: &'static [&'static str],
) -> Unit {
    Unit {
        singular,
        plural,
        symbol,
        dimension,
        scale,
        offset: NO_OFFSET,
        aliases,
    }
}

use Dimension::*;

/// Every unit the converter knows.
#[rustfmt::skip]
pub static UNITS: [Unit; 64] = [
    // Length (base: metre)
    unit("millimetre", "millimetres", "mm", Length, (1, 1_000), &["mm", "millimetre", "millimetres", "millimeter", "millimeters"]),
    unit("centimetre", "centimetres", "cm", Length, (1, 100), &["cm", "cms", "centimetre", "centimetres", "centimeter", "centimeters"]),
    unit("metre", "metres", "m", Length, (1, 1), &["m", "metre", "metres", "meter", "meters"]),
    unit("kilometre", "kilometres", "km", Length, (1_000, 1), &["km", "kms", "kilometre", "kilometres", "kilometer", "kilometers", "klicks"]),
    unit("inch", "inches", "in", Length, (254, 10_000), &["inch", "inches"]),
    unit("foot", "feet", "ft", Length, (3_048, 10_000), &["ft", "foot", "feet"]),
    unit("yard", "yards", "yd", Length, (9_144, 10_000), &["yd", "yds", "yard", "yards"]),
    unit("mile", "miles", "mi", Length, (1_609_344, 1_000), &["mi", "mile", "miles"]),
    unit("nautical mile", "nautical miles", "nmi", Length, (1_852, 1), &["nmi", "nautical mile", "nautical miles"]),
    // Mass (base: kilogram)
    unit("milligram", "milligrams", "mg", Mass, (1, 1_000_000), &["mg", "milligram", "milligrams", "milligramme", "milligrammes"]),
    unit("gram", "grams", "g", Mass, (1, 1_000), &["g", "gram", "grams", "gramme", "grammes", "gms"]),
    unit("kilogram", "kilograms", "kg", Mass, (1, 1), &["kg", "kgs", "kilogram", "kilograms", "kilogramme", "kilogrammes", "kilo", "kilos"]),
    unit("tonne", "tonnes", "t", Mass, (1_000, 1), &["tonne", "tonnes", "metric ton", "metric tons", "metric tonne", "metric tonnes"]),
    unit("ounce", "ounces", "oz", Mass, (28_349_523_125, 1_000_000_000_000), &["oz", "ounce", "ounces"]),
    unit("pound", "pounds", "lb", Mass, (45_359_237, 100_000_000), &["lb", "lbs", "pound", "pounds"]),
    unit("stone", "stone", "st", Mass, (635_029_318, 100_000_000), &["st", "stone", "stones"]),
    // Volume (base: litre)
    unit("millilitre", "millilitres", "ml", Volume, (1, 1_000), &["ml", "mls", "millilitre", "millilitres", "milliliter", "milliliters", "cc", "cm³", "cm3", "cubic centimetre", "cubic centimetres", "cubic centimeter", "cubic centimeters"]),
    unit("centilitre", "centilitres", "cl", Volume, (1, 100), &["cl", "centilitre", "centilitres", "centiliter", "centiliters"]),
    unit("litre", "litres", "l", Volume, (1, 1), &["l", "ltr", "litre", "litres", "liter", "liters"]),
    unit("cubic metre", "cubic metres", "m³", Volume, (1_000, 1), &["m³", "m3", "cubic metre", "cubic metres", "cubic meter", "cubic meters"]),
    unit("US teaspoon", "US teaspoons", "tsp", Volume, (492_892_159_375, 100_000_000_000_000), &["tsp", "tsps", "teaspoon", "teaspoons", "us teaspoon", "us teaspoons"]),
    unit("US tablespoon", "US tablespoons", "tbsp", Volume, (1_478_676_478_125, 100_000_000_000_000), &["tbsp", "tbsps", "tbs", "tablespoon", "tablespoons", "us tablespoon", "us tablespoons"]),
    unit("US fluid ounce", "US fluid ounces", "fl oz", Volume, (295_735_295_625, 10_000_000_000_000), &["fl oz", "fl. oz", "floz", "fluid ounce", "fluid ounces", "us fluid ounce", "us fluid ounces", "us fl oz"]),
    unit("US cup", "US cups", "cup", Volume, (2_365_882_365, 10_000_000_000), &["cup", "cups", "us cup", "us cups"]),
    unit("US pint", "US pints", "pt", Volume, (473_176_473, 1_000_000_000), &["pt", "pint", "pints", "us pint", "us pints"]),
    unit("US quart", "US quarts", "qt", Volume, (946_352_946, 1_000_000_000), &["qt", "quart", "quarts", "us quart", "us quarts"]),
    unit("US gallon", "US gallons", "gal", Volume, (3_785_411_784, 1_000_000_000), &["gal", "gallon", "gallons", "us gallon", "us gallons"]),
    unit("imperial pint", "imperial pints", "imp pt", Volume, (56_826_125, 100_000_000), &["imperial pint", "imperial pints", "uk pint", "uk pints", "british pint", "british pints"]),
    unit("imperial gallon", "imperial gallons", "imp gal", Volume, (454_609, 100_000), &["imperial gallon", "imperial gallons", "uk gallon", "uk gallons", "british gallon", "british gallons"]),
    // Temperature (base: kelvin): base = value × scale + offset.
    Unit {
        singular: "°C", plural: "°C", symbol: "°C", dimension: Temperature,
        scale: (1, 1), offset: (27_315, 100),
        aliases: &["°c", "c", "celsius", "centigrade", "degree celsius", "degrees celsius", "degree centigrade", "degrees centigrade", "degrees c", "degree c", "deg c", "℃"],
    },
    Unit {
        singular: "°F", plural: "°F", symbol: "°F", dimension: Temperature,
        scale: (5, 9), offset: (45_967, 180),
        aliases: &["°f", "f", "fahrenheit", "farenheit", "degree fahrenheit", "degrees fahrenheit", "degrees f", "degree f", "deg f", "℉"],
    },
    Unit {
        singular: "K", plural: "K", symbol: "K", dimension: Temperature,
        scale: (1, 1), offset: NO_OFFSET,
        aliases: &["kelvin", "kelvins", "degrees kelvin", "degree kelvin", "°k"],
    },
    // Speed (base: metre per second)
    unit("metre per second", "metres per second", "m/s", Speed, (1, 1), &["m/s", "metre per second", "metres per second", "meter per second", "meters per second", "metres a second", "meters a second"]),
    unit("kilometre per hour", "kilometres per hour", "km/h", Speed, (5, 18), &["km/h", "kmh", "kph", "kmph", "km per hour", "km an hour", "kilometre per hour", "kilometres per hour", "kilometer per hour", "kilometers per hour", "kilometres an hour", "kilometers an hour"]),
    unit("mile per hour", "miles per hour", "mph", Speed, (44_704, 100_000), &["mph", "mi/h", "mile per hour", "miles per hour", "miles an hour"]),
    unit("knot", "knots", "kn", Speed, (463, 900), &["knot", "knots", "kn", "kt", "kts"]),
    // Area (base: square metre)
    unit("square centimetre", "square centimetres", "cm²", Area, (1, 10_000), &["cm²", "cm2", "sq cm", "square centimetre", "square centimetres", "square centimeter", "square centimeters"]),
    unit("square metre", "square metres", "m²", Area, (1, 1), &["m²", "m2", "sq m", "sqm", "square metre", "square metres", "square meter", "square meters"]),
    unit("square kilometre", "square kilometres", "km²", Area, (1_000_000, 1), &["km²", "km2", "sq km", "square kilometre", "square kilometres", "square kilometer", "square kilometers"]),
    unit("square inch", "square inches", "in²", Area, (64_516, 100_000_000), &["in²", "sq in", "square inch", "square inches"]),
    unit("square foot", "square feet", "ft²", Area, (9_290_304, 100_000_000), &["ft²", "ft2", "sq ft", "sqft", "square foot", "square feet"]),
    unit("square yard", "square yards", "yd²", Area, (83_612_736, 100_000_000), &["yd²", "sq yd", "square yard", "square yards"]),
    unit("acre", "acres", "ac", Area, (40_468_564_224, 10_000_000), &["acre", "acres"]),
    unit("hectare", "hectares", "ha", Area, (10_000, 1), &["ha", "hectare", "hectares"]),
    unit("square mile", "square miles", "mi²", Area, (2_589_988_110_336, 1_000_000), &["mi²", "sq mi", "square mile", "square miles"]),
    // Data (base: bit)
    unit("bit", "bits", "bit", Data, (1, 1), &["bit", "bits"]),
    unit("byte", "bytes", "B", Data, (8, 1), &["byte", "bytes"]),
    unit("kilobit", "kilobits", "kbit", Data, (1_000, 1), &["kbit", "kilobit", "kilobits"]),
    unit("megabit", "megabits", "Mbit", Data, (1_000_000, 1), &["mbit", "megabit", "megabits"]),
    unit("gigabit", "gigabits", "Gbit", Data, (1_000_000_000, 1), &["gbit", "gigabit", "gigabits"]),
    unit("kilobyte", "kilobytes", "kB", Data, (8_000, 1), &["kb", "kilobyte", "kilobytes"]),
    unit("megabyte", "megabytes", "MB", Data, (8_000_000, 1), &["mb", "megabyte", "megabytes", "meg", "megs"]),
    unit("gigabyte", "gigabytes", "GB", Data, (8_000_000_000, 1), &["gb", "gigabyte", "gigabytes", "gig", "gigs"]),
    unit("terabyte", "terabytes", "TB", Data, (8_000_000_000_000, 1), &["tb", "terabyte", "terabytes"]),
    unit("kibibyte", "kibibytes", "KiB", Data, (8 * 1_024, 1), &["kib", "kibibyte", "kibibytes"]),
    unit("mebibyte", "mebibytes", "MiB", Data, (8 * 1_048_576, 1), &["mib", "mebibyte", "mebibytes"]),
    unit("gibibyte", "gibibytes", "GiB", Data, (8 * 1_073_741_824, 1), &["gib", "gibibyte", "gibibytes"]),
    // Duration (base: second)
    unit("millisecond", "milliseconds", "ms", Duration, (1, 1_000), &["ms", "msec", "msecs", "millisecond", "milliseconds"]),
    unit("second", "seconds", "s", Duration, (1, 1), &["s", "sec", "secs", "second", "seconds"]),
    unit("minute", "minutes", "min", Duration, (60, 1), &["min", "mins", "minute", "minutes"]),
    unit("hour", "hours", "h", Duration, (3_600, 1), &["h", "hr", "hrs", "hour", "hours"]),
    unit("day", "days", "d", Duration, (86_400, 1), &["day", "days"]),
    unit("week", "weeks", "wk", Duration, (604_800, 1), &["wk", "wks", "week", "weeks"]),
    unit("year", "years", "yr", Duration, (31_536_000, 1), &["yr", "yrs", "year", "years"]),
];

/// How the request was asked, which decides how the answer is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestForm {
    /// "convert 5 miles to km", "72 fahrenheit in celsius": "5 miles is 8.05 kilometres."
    Convert,
    /// "how many ounces in a pound": "There are 16 ounces in a pound."
    HowMany,
}

/// A parsed conversion: `amount` of `from`, into `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionRequest {
    /// 1 for "how many X in a Y" and "convert miles to km".
    pub amount: Number,
    pub from: &'static Unit,
    pub to: &'static Unit,
    pub form: RequestForm,
}

/// Why a conversion has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionError {
    /// The units measure different things ("convert 5 kg to miles").
    Incompatible {
        from: &'static Unit,
        to: &'static Unit,
    },
}

impl ConversionError {
    /// What the assistant says: "I can't convert kilograms to miles: one is a mass and the
    /// other a length."
    pub fn sentence(&self) -> String {
        match self {
            ConversionError::Incompatible { from, to } => format!(
                "I can't convert {} to {}: one is {} and the other {}.",
                from.plural,
                to.plural,
                from.dimension.with_article(),
                to.dimension.with_article()
            ),
        }
    }
}

impl fmt::Display for ConversionError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.sentence())
    }
}

impl std::error::Error for ConversionError {}

/// "a" or "an" for a spoken word ("an hour", "an inch", "a US cup", "a hectare").
fn article(word: &str) -> &'static str {
    let lower = word.to_ascii_lowercase();
    let vowel_sound = (lower.starts_with(['a', 'e', 'i', 'o', 'u'])
        && !lower.starts_with("us ")
        && !lower.starts_with("uk ")
        && !lower.starts_with("one"))
        || lower.starts_with("hour");
    if vowel_sound { "an" } else { "a" }
}

/// The unit named at `tokens[at]`, or "degrees" alone.
#[derive(Debug, Clone, Copy)]
enum Named {
    /// The unit and the alias it was named by.
    Unit(&'static Unit, &'static str),
    /// "degrees": Fahrenheit or Celsius depending on the other unit.
    Degrees,
}

/// The longest unit name at `tokens[at]` and the index after it.
fn unit_at(tokens: &[Token<'_>], at: usize) -> Option<(Named, usize)> {
    let first = tokens.get(at)?;
    if !(first.is_word() || first.kind == lexer::Kind::Symbol) {
        return None;
    }
    let mut best: Option<(Named, usize)> = None;
    for unit in &UNITS {
        for alias in unit.aliases {
            if let Some(next) = match_phrase(tokens, at, alias)
                && best.as_ref().is_none_or(|(_, best_next)| next > *best_next)
            {
                best = Some((Named::Unit(unit, alias), next));
            }
        }
    }
    if best.is_none()
        && let Some(next) = match_any_phrase(tokens, at, &["degrees", "degree", "deg", "°"])
    {
        best = Some((Named::Degrees, next));
    }
    best
}

fn find_unit(singular: &str) -> &'static Unit {
    UNITS
        .iter()
        .find(|unit| unit.singular == singular)
        .unwrap_or(&UNITS[0])
}

/// Turns "degrees" into a temperature unit; next to a volume, a (mass) ounce becomes a fluid
/// ounce and "c" a cup ("1 c to ml"). None when "degrees" cannot be decided.
fn settle(from: Named, to: Named) -> Option<(&'static Unit, &'static Unit)> {
    let celsius = find_unit("°C");
    let fahrenheit = find_unit("°F");
    let other_temperature = |unit: &'static Unit| {
        if std::ptr::eq(unit, celsius) {
            fahrenheit
        } else {
            celsius
        }
    };
    let ((from, from_alias), (to, to_alias)) = match (from, to) {
        (Named::Unit(from, from_alias), Named::Unit(to, to_alias)) => {
            ((from, from_alias), (to, to_alias))
        }
        (Named::Degrees, Named::Unit(to, alias)) if to.dimension == Temperature => {
            ((other_temperature(to), "degrees"), (to, alias))
        }
        (Named::Unit(from, alias), Named::Degrees) if from.dimension == Temperature => {
            ((from, alias), (other_temperature(from), "degrees"))
        }
        _ => return None,
    };
    let ounce = find_unit("ounce");
    let as_volume = |unit: &'static Unit, alias: &str, other: &'static Unit| {
        if other.dimension != Volume {
            unit
        } else if std::ptr::eq(unit, ounce) {
            find_unit("US fluid ounce")
        } else if alias == "c" {
            find_unit("US cup")
        } else {
            unit
        }
    };
    Some((
        as_volume(from, from_alias, to),
        as_volume(to, to_alias, from),
    ))
}

/// Words one of which every conversion contains (checked before tokenizing).
const CONNECTOR_WORDS: &[&str] = &[
    "to", "in", "into", "as", "is", "are", "equals", "make", "makes",
];

const CONVERT_OPENINGS: &[&str] = &[
    "convert",
    "change",
    "what is",
    "what's",
    "whats",
    "what are",
    "how much is",
    "how much are",
    "how much would",
    "tell me",
    "calculate",
];

const CONVERT_CONNECTORS: &[&str] = &[
    "is how many",
    "are how many",
    "equals how many",
    "is what in",
    "in to",
    "into",
    "to",
    "in",
    "as",
    "=",
    "equals",
];

const HOW_MANY_CONNECTORS: &[&str] = &[
    "are there in",
    "is there in",
    "are in",
    "is in",
    "go into",
    "make up",
    "fit in",
    "in",
    "are",
    "is",
    "make",
    "makes",
    "to",
    "per",
];

/// Parses a conversion request (see the module documentation for the phrasings). Returns
/// None for anything that is not clearly one ("convert this to pdf", "5 + 5", "how many
/// people live in paris"); a request between incompatible units parses, and [`convert`]
/// explains the problem.
pub fn parse_conversion(command: &str) -> Option<ConversionRequest> {
    let has_connector = CONNECTOR_WORDS
        .iter()
        .any(|word| lexer::contains_word_ascii(command, word))
        || command.contains('=');
    if !has_connector {
        return None;
    }
    let mut tokens = lexer::tokenize(command);
    tokens.retain(|token| !lexer::is_pause(token));
    let tokens = lexer::strip_fillers(
        lexer::trim_trailing_punctuation(&tokens),
        text::LEADING_FILLERS,
        text::TRAILING_FILLERS,
    );
    how_many(tokens).or_else(|| convert_form(tokens))
}

/// "how many ounces in a pound", "how many ml are there in 3 cups", "how many km is 5 miles".
fn how_many(tokens: &[Token<'_>]) -> Option<ConversionRequest> {
    let after = match_any_phrase(tokens, 0, &["how many", "how much"])?;
    let (to, after_to) = unit_at(tokens, after)?;
    let after_connector = match_any_phrase(tokens, after_to, HOW_MANY_CONNECTORS)?;
    let (amount, after_amount) = match numbers::signed_quantity(tokens, after_connector, true) {
        Some(quantity) => (quantity.value, quantity.next),
        None => (BigRational::one(), after_connector),
    };
    let (from, end) = unit_at(tokens, after_amount)?;
    if end != tokens.len() {
        return None;
    }
    let (from, to) = settle(from, to)?;
    Some(ConversionRequest {
        amount: Number::from_rational(amount),
        from,
        to,
        form: RequestForm::HowMany,
    })
}

/// "convert 5 miles to km", "5 miles in km", "what is 10 kg in pounds", "convert miles to km".
fn convert_form(tokens: &[Token<'_>]) -> Option<ConversionRequest> {
    let opening = match_any_phrase(tokens, 0, CONVERT_OPENINGS);
    let converting = tokens
        .first()
        .is_some_and(|token| token.is_any(&["convert", "change"]));
    let start = opening.unwrap_or(0);
    let (amount, after_amount) = match numbers::signed_quantity(tokens, start, true) {
        Some(quantity) => (quantity.value, quantity.next),
        None if converting => (BigRational::one(), start),
        None => return None,
    };
    let (from, after_from) = unit_at(tokens, after_amount)?;
    let after_connector = match_any_phrase(tokens, after_from, CONVERT_CONNECTORS)?;
    let (to, end) = unit_at(tokens, after_connector)?;
    if end != tokens.len() {
        return None;
    }
    let (from, to) = settle(from, to)?;
    Some(ConversionRequest {
        amount: Number::from_rational(amount),
        from,
        to,
        form: RequestForm::Convert,
    })
}

/// The request's amount in its target unit, exactly.
pub fn convert(request: &ConversionRequest) -> Result<Number, ConversionError> {
    let (from, to) = (request.from, request.to);
    if from.dimension != to.dimension {
        return Err(ConversionError::Incompatible { from, to });
    }
    let base = request.amount.as_rational() * from.scale() + from.offset();
    Ok(Number::from_rational((base - to.offset()) / to.scale()))
}

/// A number and its unit for speech: "5 miles", "1 mile", "72 °F", "300 K".
fn quantity_phrase(spoken_number: &str, unit: &Unit) -> String {
    format!("{spoken_number} {}", unit.name_for(spoken_number))
}

/// The answer for speech: "5 miles is 8.05 kilometres.", "72 °F is 22.2 °C.", "There are 16
/// ounces in a pound.", "3 US cups is 710 millilitres.", "-40 °F is -40 °C.". The amount is
/// said exactly as asked; the result rounded to three significant digits unless it is whole.
pub fn speak_conversion(request: &ConversionRequest, result: &Number) -> String {
    let amount = numbers::speak_exact(&request.amount);
    let spoken_result = numbers::speak_rounded(result);
    let asked = quantity_phrase(&amount, request.from);
    let answer = quantity_phrase(&spoken_result, request.to);
    let how_many = request.form == RequestForm::HowMany
        && request.from.dimension != Temperature
        && request.to.dimension != Temperature;
    if !how_many {
        return format!("{asked} is {answer}.");
    }
    let verb = if spoken_result == "1" { "is" } else { "are" };
    let of_what = if request.amount.as_rational().is_one() {
        format!(
            "{} {}",
            article(request.from.singular),
            request.from.singular
        )
    } else {
        asked
    };
    format!("There {verb} {answer} in {of_what}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::numbers::integer;
    use num_traits::Signed;
    use proptest::prelude::*;
    use std::time::{Duration as StdDuration, Instant};

    fn exact(value: &str) -> BigRational {
        numbers::parse_number(value)
            .map(|number| number.as_rational().clone())
            .expect("a decimal")
    }

    fn answer(command: &str) -> String {
        let request = parse_conversion(command).unwrap_or_else(|| panic!("{command:?} parses"));
        match convert(&request) {
            Ok(result) => speak_conversion(&request, &result),
            Err(error) => error.sentence(),
        }
    }

    #[test]
    fn conversions_table() {
        let table = [
            ("convert 5 miles to km", "5 miles is 8.05 kilometres."),
            ("5 miles in km", "5 miles is 8.05 kilometres."),
            ("72 fahrenheit in celsius", "72 °F is 22.2 °C."),
            ("72°F to °C", "72 °F is 22.2 °C."),
            ("72 degrees fahrenheit in celsius", "72 °F is 22.2 °C."),
            ("72 degrees in celsius", "72 °F is 22.2 °C."),
            ("-40 °F in celsius", "-40 °F is -40 °C."),
            ("minus 40 celsius to fahrenheit", "-40 °C is -40 °F."),
            ("100 c to f", "100 °C is 212 °F."),
            ("0 kelvin in celsius", "0 K is -273 °C."),
            ("300 kelvin in celsius", "300 K is 26.9 °C."),
            (
                "how many ounces in a pound",
                "There are 16 ounces in a pound.",
            ),
            (
                "How many ounces are in a pound?",
                "There are 16 ounces in a pound.",
            ),
            ("how many feet in a mile", "There are 5,280 feet in a mile."),
            (
                "how many ounces in a cup",
                "There are 8 US fluid ounces in a US cup.",
            ),
            (
                "how many teaspoons in a tablespoon",
                "There are 3 US teaspoons in a US tablespoon.",
            ),
            (
                "how many ml are there in 3 cups",
                "There are 710 millilitres in 3 US cups.",
            ),
            (
                "how many kilometres in a mile",
                "There are 1.61 kilometres in a mile.",
            ),
            ("how many inches in an inch", "There is 1 inch in an inch."),
            ("how many days in a year", "There are 365 days in a year."),
            (
                "how many square feet in an acre",
                "There are 43,560 square feet in an acre.",
            ),
            (
                "how many km is 5 miles",
                "There are 8.05 kilometres in 5 miles.",
            ),
            ("3 cups to ml", "3 US cups is 710 millilitres."),
            ("what is 10 kg in pounds", "10 kilograms is 22 pounds."),
            ("what's 10 kg in lbs?", "10 kilograms is 22 pounds."),
            (
                "100 km/h in mph",
                "100 kilometres per hour is 62.1 miles per hour.",
            ),
            (
                "100 kph to miles per hour",
                "100 kilometres per hour is 62.1 miles per hour.",
            ),
            (
                "60 mph in km/h",
                "60 miles per hour is 96.6 kilometres per hour.",
            ),
            ("10 knots in km/h", "10 knots is 18.5 kilometres per hour."),
            ("1 mile in feet", "1 mile is 5,280 feet."),
            ("convert miles to km", "1 mile is 1.61 kilometres."),
            ("convert a mile to km", "1 mile is 1.61 kilometres."),
            ("2.5 kg to g", "2.5 kilograms is 2,500 grams."),
            ("1,000 metres in km", "1,000 metres is 1 kilometre."),
            ("half a mile in metres", "0.5 miles is 805 metres."),
            (
                "twenty five litres to gallons",
                "25 litres is 6.6 US gallons.",
            ),
            (
                "2 imperial pints in ml",
                "2 imperial pints is 1,140 millilitres.",
            ),
            ("1 GB in MB", "1 gigabyte is 1,000 megabytes."),
            ("1 GiB in MB", "1 gibibyte is 1,070 megabytes."),
            ("8 bits in bytes", "8 bits is 1 byte."),
            ("64 gigs to gibibytes", "64 gigabytes is 59.6 gibibytes."),
            ("1 hectare in acres", "1 hectare is 2.47 acres."),
            (
                "100 square metres in square feet",
                "100 square metres is 1,080 square feet.",
            ),
            ("1 sq mi in km²", "1 square mile is 2.59 square kilometres."),
            ("2 weeks in days", "2 weeks is 14 days."),
            ("90 minutes in hours", "90 minutes is 1.5 hours."),
            ("11 stone in kg", "11 stone is 69.9 kilograms."),
            ("1 stone in pounds", "1 stone is 14 pounds."),
            ("5 fl oz in ml", "5 US fluid ounces is 148 millilitres."),
            ("1 tbsp to tsp", "1 US tablespoon is 3 US teaspoons."),
            ("6 feet in cm", "6 feet is 183 centimetres."),
            (
                "1 nautical mile in km",
                "1 nautical mile is 1.85 kilometres.",
            ),
            (
                "1 m/s in km/h",
                "1 metre per second is 3.6 kilometres per hour.",
            ),
            ("1 tonne in pounds", "1 tonne is 2,200 pounds."),
            (
                "hey ballsy, convert 5 miles to km please",
                "5 miles is 8.05 kilometres.",
            ),
            ("5 miles = km", "5 miles is 8.05 kilometres."),
            ("5 miles is how many km", "5 miles is 8.05 kilometres."),
            (
                "convert 5 kg to miles",
                "I can't convert kilograms to miles: one is a mass and the other a length.",
            ),
            (
                "3 acres in litres",
                "I can't convert acres to litres: one is an area and the other a volume.",
            ),
            (
                "10 ounces in metres",
                "I can't convert ounces to metres: one is a mass and the other a length.",
            ),
            ("2 c to ml", "2 US cups is 473 millilitres."),
            (
                "how many cups in a gallon",
                "There are 16 US cups in a US gallon.",
            ),
            ("convert 350 degrees to celsius", "350 °F is 177 °C."),
            ("1 TB in GB", "1 terabyte is 1,000 gigabytes."),
            ("5 foot in cm", "5 feet is 152 centimetres."),
            (
                "how many seconds in a day",
                "There are 86,400 seconds in a day.",
            ),
            ("how much is 3 pounds in kg", "3 pounds is 1.36 kilograms."),
            ("2 c to f", "2 °C is 35.6 °F."),
        ];
        for (command, expected) in table {
            assert_eq!(answer(command), expected, "{command:?}");
        }
    }

    #[test]
    fn not_conversions_table() {
        for command in [
            "",
            "convert this to pdf",
            "5 + 5",
            "how many people live in paris",
            "how many days until christmas",
            "what is the time in tokyo",
            "5 in 10",
            "convert",
            "miles to km",
            "celsius to fahrenheit please explain",
            "set a timer for 10 minutes",
            "what is 5 miles",
            "72 degrees in paris",
            "10 degrees in degrees",
            "convert 5 miles to km and back",
            "how many cups",
            "5 inches in 10 minutes",
            "convert 1 cup of flour to grams",
            "convert 5 dollars to euros",
            "how many calories in a banana",
            "how many s in mississippi",
            "what is 2 to the power of 3",
            "1 in 3 people",
        ] {
            assert_eq!(parse_conversion(command), None, "{command:?}");
        }
    }

    #[test]
    fn factors_are_exact_definitions() {
        let base = |singular: &str| find_unit(singular).scale();
        assert_eq!(base("inch"), exact("0.0254"));
        assert_eq!(base("pound"), exact("0.45359237"));
        assert_eq!(base("ounce") * integer(16), base("pound"));
        assert_eq!(base("stone"), base("pound") * integer(14));
        assert_eq!(base("foot"), base("inch") * integer(12));
        assert_eq!(base("yard"), base("foot") * integer(3));
        assert_eq!(base("mile"), base("yard") * integer(1_760));
        assert_eq!(base("US cup") * integer(1_000), exact("236.5882365"));
        assert_eq!(base("US gallon"), base("US cup") * integer(16));
        assert_eq!(base("US quart"), base("US cup") * integer(4));
        assert_eq!(base("US pint"), base("US cup") * integer(2));
        assert_eq!(base("US cup"), base("US fluid ounce") * integer(8));
        assert_eq!(base("US fluid ounce"), base("US tablespoon") * integer(2));
        assert_eq!(base("US tablespoon"), base("US teaspoon") * integer(3));
        assert_eq!(
            base("US gallon"),
            exact("231") * base("inch").pow(3) * integer(1_000)
        );
        assert_eq!(base("imperial gallon"), base("imperial pint") * integer(8));
        assert_eq!(base("acre"), base("foot").pow(2) * integer(43_560));
        assert_eq!(base("square mile"), base("mile").pow(2));
        assert_eq!(base("square foot"), base("foot").pow(2));
        assert_eq!(base("square yard"), base("yard").pow(2));
        assert_eq!(base("square inch"), base("inch").pow(2));
        assert_eq!(base("mile per hour"), base("mile") / integer(3_600));
        assert_eq!(base("knot"), base("nautical mile") / integer(3_600));
        assert_eq!(base("gibibyte"), integer(8) * integer(1_024).pow(3));
        assert_eq!(base("year"), integer(365 * 86_400));
    }

    #[test]
    fn every_alias_names_its_unit() {
        for unit in &UNITS {
            for alias in unit.aliases {
                let (target, other) = if unit.dimension == Temperature {
                    ("kelvin", find_unit("K"))
                } else {
                    (unit.aliases[0], unit)
                };
                let command = format!("convert 2 {alias} to {target}");
                let request =
                    parse_conversion(&command).unwrap_or_else(|| panic!("{command:?} parses"));
                assert!(
                    std::ptr::eq(request.from, unit),
                    "{command:?} → {}",
                    request.from.singular
                );
                assert!(std::ptr::eq(request.to, other) || unit.dimension != Temperature);
                let upper = format!("convert 2 {} to {target}", alias.to_uppercase());
                assert!(
                    parse_conversion(&upper).is_some_and(|found| std::ptr::eq(found.from, unit)),
                    "{upper:?}"
                );
            }
        }
    }

    #[test]
    fn units_have_distinct_aliases() {
        let mut seen = std::collections::HashSet::new();
        for unit in &UNITS {
            for alias in unit.aliases {
                assert!(seen.insert(*alias), "{alias} names two units");
                assert_eq!(*alias, alias.to_lowercase());
            }
        }
    }

    #[test]
    fn incompatible_sentences_name_both_dimensions() {
        for from in &UNITS {
            for to in &UNITS {
                if from.dimension == to.dimension {
                    continue;
                }
                let error = ConversionError::Incompatible { from, to };
                let sentence = error.sentence();
                assert!(sentence.starts_with("I can't convert "), "{sentence}");
                assert!(sentence.contains(from.dimension.name()) && sentence.ends_with('.'));
                assert_eq!(error.to_string(), sentence);
            }
        }
    }

    fn same_dimension_pair() -> impl Strategy<Value = (&'static Unit, &'static Unit)> {
        (0..UNITS.len(), 0..UNITS.len()).prop_filter_map("same dimension", |(first, second)| {
            let (from, to) = (&UNITS[first], &UNITS[second]);
            (from.dimension == to.dimension).then_some((from, to))
        })
    }

    proptest! {
        #[test]
        fn conversions_round_trip_exactly(
            (from, to) in same_dimension_pair(),
            numerator in -1_000_000_000i64..1_000_000_000,
            denominator in 1i64..1_000_000,
        ) {
            let amount = Number::from_rational(BigRational::new(numerator.into(), denominator.into()));
            let there = ConversionRequest { amount: amount.clone(), from, to, form: RequestForm::Convert };
            let converted = convert(&there).expect("same dimension");
            let back = ConversionRequest { amount: converted, from: to, to: from, form: RequestForm::Convert };
            prop_assert_eq!(convert(&back).expect("same dimension"), amount);
        }

        #[test]
        fn spoken_results_are_within_rounding(
            (from, to) in same_dimension_pair(),
            amount in 1u32..100_000,
        ) {
            let command = format!("convert {amount} {} to {}", from.aliases[0], to.aliases[0]);
            let request = parse_conversion(&command).expect("the command parses");
            prop_assert!(std::ptr::eq(request.from, from) && std::ptr::eq(request.to, to), "{}", command);
            let exact_result = convert(&request).expect("same dimension");
            let spoken = speak_conversion(&request, &exact_result);
            // "… is 8.05 kilometres.": the number after " is ".
            let number_text = spoken
                .split(" is ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .expect("a number in the answer");
            let said = numbers::parse_number(number_text).expect("the number parses");
            let exact_value = exact_result.as_rational();
            let error = (said.as_rational() - exact_value).abs();
            let allowed = exact_value.abs() * BigRational::new(5.into(), 1000.into());
            prop_assert!(error <= allowed, "{} for {}", spoken, exact_result);
            if exact_result.is_integer() {
                prop_assert_eq!(said, exact_result);
            }
        }

        #[test]
        fn never_panics_and_is_fast(input in "\\PC{0,1000}") {
            let started = Instant::now();
            if let Some(request) = parse_conversion(&input)
                && let Ok(result) = convert(&request)
            {
                let _ = speak_conversion(&request, &result);
            }
            prop_assert!(started.elapsed() < StdDuration::from_secs(1));
        }

        #[test]
        fn unit_shaped_noise_is_fast(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "5", "miles", "to", "in", "km", "how", "many", "a", "degrees", "°", "f",
                    "/", "h", "square", "fl", "oz", "convert", "is", "-", "cups", "us",
                ]),
                0..300,
            )
        ) {
            let started = Instant::now();
            let _ = parse_conversion(&words.join(" "));
            let _ = parse_conversion(&words.concat());
            prop_assert!(started.elapsed() < StdDuration::from_secs(1));
        }
    }
}
