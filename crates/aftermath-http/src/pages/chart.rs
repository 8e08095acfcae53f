//! A small inline-SVG bar chart for the dashboard, with an optional horizontal target line.
//!
//! The Content-Security-Policy forbids inline styles, so the chart uses only presentation
//! attributes and classes (`bar`, `target-line`, … styled in `app.css`). Geometry is
//! computed apart from the markup so it can be tested, and never divides by zero: with
//! every value at zero the bars are simply flat.

use maud::{html, Markup};

/// The drawing's coordinate system (`viewBox`); CSS scales it to the page.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
/// Room for the value axis on the left, the target's label on top and bar labels below.
const MARGIN_LEFT: f64 = 72.0;
const MARGIN_RIGHT: f64 = 8.0;
const MARGIN_TOP: f64 = 18.0;
const MARGIN_BOTTOM: f64 = 28.0;
/// The share of each bar's slot left empty, so neighbouring bars stay apart.
const GAP_SHARE: f64 = 0.2;
/// More labels than this under the bars would overlap; only every n-th one is written.
const MAX_AXIS_LABELS: usize = 16;

/// One bar. `value: None` is a gap (nothing to measure, e.g. a week without
/// acknowledgements), which is different from a bar of zero.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bar {
    /// Written under the bar; keep it short.
    pub(crate) label: String,
    /// The full name, shown as the bar's tooltip and read by screen readers.
    pub(crate) title: String,
    pub(crate) value: Option<u64>,
}

/// A horizontal line across the chart at `value`, e.g. the SOP's 5-minute target.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TargetLine {
    pub(crate) value: u64,
    pub(crate) label: String,
}

/// A bar chart: its element id, what it shows (the SVG's `<title>` and `aria-label`),
/// the bars, how a value is written for people, and an optional target line.
pub(crate) struct BarChart<'a> {
    pub(crate) id: &'a str,
    pub(crate) title: &'a str,
    pub(crate) bars: &'a [Bar],
    pub(crate) format_value: &'a dyn Fn(u64) -> String,
    pub(crate) target: Option<TargetLine>,
}

/// Where one bar is drawn, in `viewBox` units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BarBox {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

/// The computed drawing: one slot per bar (`None` for a gap), the target line's `y`,
/// and the value at the top of the scale.
#[derive(Debug, PartialEq)]
pub(crate) struct Geometry {
    pub(crate) bars: Vec<Option<BarBox>>,
    pub(crate) target_y: Option<f64>,
    pub(crate) scale_max: u64,
}

/// The bottom of the plotting area (value zero).
fn baseline() -> f64 {
    HEIGHT - MARGIN_BOTTOM
}

fn plot_height() -> f64 {
    HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
}

/// Lays the bars out side by side. The scale runs from zero to the largest value or the
/// target, whichever is higher, so the target line is always inside the chart.
pub(crate) fn geometry(values: &[Option<u64>], target: Option<u64>) -> Geometry {
    let scale_max = values
        .iter()
        .flatten()
        .copied()
        .chain(target)
        .max()
        .unwrap_or(0);
    // Everything at zero (or no bars at all): flat bars at the baseline, never 0/0.
    let height_of = |value: u64| {
        if scale_max == 0 {
            0.0
        } else {
            value as f64 / scale_max as f64 * plot_height()
        }
    };
    let slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / values.len().max(1) as f64;
    let bars = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            value.map(|value| {
                let height = height_of(value);
                BarBox {
                    x: MARGIN_LEFT + slot * index as f64 + slot * GAP_SHARE / 2.0,
                    y: baseline() - height,
                    width: slot * (1.0 - GAP_SHARE),
                    height,
                }
            })
        })
        .collect();
    Geometry {
        bars,
        target_y: target.map(|target| baseline() - height_of(target)),
        scale_max,
    }
}

/// A coordinate as written in the markup: one decimal is plenty at this size.
fn coordinate(value: f64) -> String {
    format!("{value:.1}")
}

/// `text` cut to `max_chars` characters (not bytes), with an ellipsis when cut.
fn shortened(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// The chart as inline SVG. Each bar carries `data-label`/`data-value` and its own
/// `<title>`; the caller puts the same numbers in a table next to the chart.
pub(crate) fn bar_chart(chart: &BarChart<'_>) -> Markup {
    let values: Vec<Option<u64>> = chart.bars.iter().map(|bar| bar.value).collect();
    let target_value = chart.target.as_ref().map(|target| target.value);
    let drawn = geometry(&values, target_value);
    let label_every = chart.bars.len().div_ceil(MAX_AXIS_LABELS).max(1);
    // Room per label shrinks with the number of bars written under.
    let label_chars = (80 * label_every / chart.bars.len().max(1)).clamp(4, 14);
    let view_box = format!("0 0 {WIDTH} {HEIGHT}");
    html! {
        svg.chart id=(chart.id) viewBox=(view_box) role="img" aria-label=(chart.title)
            xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet" {
            title { (chart.title) }
            line.axis x1=(coordinate(MARGIN_LEFT)) x2=(coordinate(WIDTH - MARGIN_RIGHT))
                y1=(coordinate(baseline())) y2=(coordinate(baseline()))
                stroke="#57606a" stroke-width="1" {}
            text.axis-label x=(coordinate(MARGIN_LEFT - 4.0)) y=(coordinate(MARGIN_TOP + 4.0))
                text-anchor="end" { ((chart.format_value)(drawn.scale_max)) }
            text.axis-label x=(coordinate(MARGIN_LEFT - 4.0)) y=(coordinate(baseline()))
                text-anchor="end" { ((chart.format_value)(0)) }
            @for (index, (bar, slot)) in chart.bars.iter().zip(&drawn.bars).enumerate() {
                @if let (Some(value), Some(slot)) = (bar.value, slot) {
                    @let over_target = target_value.is_some_and(|target| value > target);
                    rect.bar.over-target[over_target] x=(coordinate(slot.x))
                        y=(coordinate(slot.y)) width=(coordinate(slot.width))
                        height=(coordinate(slot.height)) fill="#0b5cad"
                        data-label=(bar.label) data-value=(value) {
                        title { (bar.title) ": " ((chart.format_value)(value)) }
                    }
                }
                @if index % label_every == 0 {
                    @let slot_width = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / chart.bars.len() as f64;
                    text.bar-label x=(coordinate(MARGIN_LEFT + slot_width * (index as f64 + 0.5)))
                        y=(coordinate(HEIGHT - 10.0)) text-anchor="middle" {
                        (shortened(&bar.label, label_chars))
                    }
                }
            }
            @if let (Some(target), Some(target_y)) = (&chart.target, drawn.target_y) {
                line.target-line x1=(coordinate(MARGIN_LEFT)) x2=(coordinate(WIDTH - MARGIN_RIGHT))
                    y1=(coordinate(target_y)) y2=(coordinate(target_y))
                    stroke="#b42318" stroke-width="2" stroke-dasharray="6 4"
                    data-value=(target.value) {
                    title { (target.label) }
                }
                text.target-label x=(coordinate(WIDTH - MARGIN_RIGHT)) y=(coordinate(target_y - 4.0))
                    text-anchor="end" { (target.label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(values: &[Option<u64>]) -> Vec<Bar> {
        values
            .iter()
            .enumerate()
            .map(|(index, value)| Bar {
                label: format!("b{index}"),
                title: format!("bar {index}"),
                value: *value,
            })
            .collect()
    }

    /// Coordinates are computed in floating point: equal up to rounding is equal.
    #[track_caller]
    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "{actual} is not {expected}"
        );
    }

    fn render(values: &[Option<u64>], target: Option<u64>) -> String {
        let bars = bars(values);
        let format_value = |value: u64| value.to_string();
        bar_chart(&BarChart {
            id: "chart-test",
            title: "Test chart",
            bars: &bars,
            format_value: &format_value,
            target: target.map(|value| TargetLine {
                value,
                label: format!("target {value}"),
            }),
        })
        .into_string()
    }

    #[test]
    fn bar_heights_scale_to_the_largest_value() {
        let drawn = geometry(&[Some(10), Some(5), Some(0)], None);
        assert_eq!(drawn.scale_max, 10);
        let heights: Vec<f64> = drawn.bars.iter().map(|bar| bar.unwrap().height).collect();
        for (height, expected) in heights
            .iter()
            .zip([plot_height(), plot_height() / 2.0, 0.0])
        {
            assert_close(*height, expected);
        }
        for bar in drawn.bars.iter().flatten() {
            assert_close(bar.y + bar.height, baseline());
        }
        let tallest = drawn.bars[0].unwrap();
        assert_close(tallest.y, MARGIN_TOP);
    }

    #[test]
    fn bars_sit_side_by_side_inside_the_plot() {
        let drawn = geometry(&[Some(1), Some(2), Some(3), Some(4)], None);
        let boxes: Vec<BarBox> = drawn.bars.iter().map(|bar| bar.unwrap()).collect();
        for pair in boxes.windows(2) {
            assert!(pair[0].x + pair[0].width < pair[1].x, "{pair:?}");
        }
        assert!(boxes[0].x >= MARGIN_LEFT);
        let last = boxes.last().unwrap();
        assert!(last.x + last.width <= WIDTH - MARGIN_RIGHT);
    }

    #[test]
    fn all_zero_values_draw_flat_bars_and_no_nan() {
        let drawn = geometry(&[Some(0), Some(0)], None);
        assert_eq!(drawn.scale_max, 0);
        for bar in drawn.bars.iter().flatten() {
            assert_close(bar.height, 0.0);
            assert_close(bar.y, baseline());
        }
        let markup = render(&[Some(0), None, Some(0)], None);
        assert!(!markup.contains("NaN"), "{markup}");
        assert!(!markup.contains("inf"), "{markup}");
        assert_eq!(markup.matches("<rect").count(), 2, "a gap draws no bar");
        let empty = render(&[], None);
        assert!(!empty.contains("NaN"), "{empty}");
    }

    #[test]
    fn gaps_draw_no_bar_but_keep_their_slot() {
        let drawn = geometry(&[Some(4), None, Some(4)], None);
        assert!(drawn.bars[1].is_none());
        let first = drawn.bars[0].unwrap();
        let third = drawn.bars[2].unwrap();
        let slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 3.0;
        assert_close(third.x - first.x, 2.0 * slot);
    }

    #[test]
    fn the_target_line_sits_at_its_value_on_the_scale() {
        // Target half of the largest bar: half-way up the plot.
        let drawn = geometry(&[Some(600), Some(100)], Some(300));
        assert_close(drawn.target_y.unwrap(), baseline() - plot_height() / 2.0);
        // A target above every bar tops the scale, so the line is still drawn inside.
        let drawn = geometry(&[Some(60), None], Some(300));
        assert_eq!(drawn.scale_max, 300);
        assert_close(drawn.target_y.unwrap(), MARGIN_TOP);
        assert_close(drawn.bars[0].unwrap().height, plot_height() / 5.0);
        // No bars at all: the target alone sets the scale.
        assert_close(
            geometry(&[None, None], Some(300)).target_y.unwrap(),
            MARGIN_TOP,
        );

        let markup = render(&[Some(600), Some(100)], Some(300));
        let expected_y = coordinate(baseline() - plot_height() / 2.0);
        assert!(
            markup.contains(&format!(
                r#"class="target-line" x1="{}" x2="{}" y1="{expected_y}" y2="{expected_y}""#,
                coordinate(MARGIN_LEFT),
                coordinate(WIDTH - MARGIN_RIGHT)
            )),
            "{markup}"
        );
        assert!(markup.contains("target 300"), "{markup}");
        assert_eq!(markup.matches(r#"class="bar over-target""#).count(), 1);
    }

    #[test]
    fn the_chart_is_labelled_and_its_text_escaped() {
        let bars = vec![Bar {
            label: "<script>alert(1)</script>".to_owned(),
            title: "<b>svc</b>".to_owned(),
            value: Some(1),
        }];
        let format_value = |value: u64| value.to_string();
        let markup = bar_chart(&BarChart {
            id: "chart-x",
            title: "Incidents per service",
            bars: &bars,
            format_value: &format_value,
            target: None,
        })
        .into_string();
        assert!(
            markup.starts_with(r#"<svg class="chart" id="chart-x""#),
            "{markup}"
        );
        assert!(markup.contains(r#"aria-label="Incidents per service""#));
        assert!(markup.contains("<title>Incidents per service</title>"));
        assert!(!markup.contains("<script>"), "{markup}");
        assert!(!markup.contains("<b>"), "{markup}");
        assert!(markup.contains("&lt;b&gt;svc&lt;/b&gt;: 1"), "{markup}");
        assert!(!markup.contains("target-line"));
    }

    #[test]
    fn long_labels_are_shortened_by_characters() {
        assert_eq!(shortened("checkout", 14), "checkout");
        assert_eq!(shortened("ééééééé", 4), "ééé…");
    }
}
