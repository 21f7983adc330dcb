//! Themes as data: `themes/NAME.toml`, embedded, overridable from the config dir, with
//! `inherits = "NAME"` for partial themes. The default uses the 16 ANSI colours only.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

pub const BUILTIN: [(&str, &str); 3] = [
    ("default", include_str!("../../../themes/default.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
];

const FIELDS: [&str; 27] = [
    "border",
    "border_focused",
    "title",
    "text",
    "dim",
    "selected_fg",
    "selected_bg",
    "user",
    "assistant",
    "tool",
    "reasoning",
    "code",
    "error",
    "ok",
    "waiting",
    "running",
    "status_fg",
    "status_bg",
    "heading",
    "link",
    "search_match",
    "code_keyword",
    "code_string",
    "code_comment",
    "code_number",
    "code_function",
    "code_type",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    colors: BTreeMap<&'static str, Color>,
}

#[derive(Deserialize)]
struct ThemeFile {
    #[serde(default)]
    inherits: Option<String>,
    #[serde(flatten)]
    colors: BTreeMap<String, String>,
}

impl Theme {
    /// The themes there are: the built-in ones and the user's files, by name.
    pub fn names(config_dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
        if let Ok(entries) = std::fs::read_dir(config_dir.join("themes")) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                        names.push(stem.to_string());
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    pub fn load(name: &str, config_dir: &Path) -> Result<Theme, String> {
        let mut colors = BTreeMap::new();
        Theme::load_into(name, config_dir, &mut colors, 0)?;
        for field in FIELDS {
            if !colors.contains_key(field) {
                return Err(format!(
                    "theme '{name}': '{field}' has no colour (set it, or inherit from a theme that does)"
                ));
            }
        }
        Ok(Theme { colors })
    }

    /// Applies theme `name`: its built-in file, then the user's file of that name on top;
    /// either may name a theme it `inherits`, which is applied first.
    fn load_into(
        name: &str,
        config_dir: &Path,
        colors: &mut BTreeMap<&'static str, Color>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > 8 {
            return Err(format!("theme '{name}': inherits too deep (a cycle?)"));
        }
        let builtin = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.to_string());
        let user_path = config_dir.join("themes").join(format!("{name}.toml"));
        let user = match std::fs::read_to_string(&user_path) {
            Ok(text) => Some(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(format!("{}: {err}", user_path.display())),
        };
        if builtin.is_none() && user.is_none() {
            return Err(format!(
                "there is no theme '{name}' (built in: default; or put one at {})",
                user_path.display()
            ));
        }
        let layers = [
            builtin.map(|text| (text, format!("themes/{name}.toml (built in)"))),
            user.map(|text| (text, user_path.display().to_string())),
        ];
        for (text, origin) in layers.into_iter().flatten() {
            let file: ThemeFile =
                toml::from_str(&text).map_err(|e| format!("{origin}: {}", e.to_string().trim()))?;
            if let Some(base) = file.inherits.as_deref().filter(|base| *base != name) {
                Theme::load_into(base, config_dir, colors, depth + 1)?;
            }
            for (key, value) in file.colors {
                let field = FIELDS
                    .iter()
                    .find(|f| **f == key)
                    .ok_or_else(|| format!("{origin}: '{key}' is not a theme colour"))?;
                let color = Color::from_str(&value)
                    .map_err(|_| format!("{origin}: {key}: '{value}' is not a colour"))?;
                colors.insert(field, color);
            }
        }
        Ok(())
    }

    pub fn default_theme() -> Theme {
        Theme::load("default", Path::new("/nonexistent")).unwrap_or(Theme {
            colors: BTreeMap::new(),
        })
    }

    pub fn color(&self, field: &str) -> Color {
        self.colors.get(field).copied().unwrap_or(Color::Reset)
    }

    pub fn fg(&self, field: &str) -> Style {
        Style::default().fg(self.color(field))
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg("border_focused").add_modifier(Modifier::BOLD)
        } else {
            self.fg("border")
        }
    }

    pub fn selected(&self) -> Style {
        self.bar("selected_fg", "selected_bg")
    }

    /// A bar's colours; both "reset" means the terminal's own colours reversed, which
    /// read in any palette.
    fn bar(&self, fg: &str, bg: &str) -> Style {
        let (fg, bg) = (self.color(fg), self.color(bg));
        let style = Style::default().fg(fg).bg(bg);
        if fg == Color::Reset && bg == Color::Reset {
            style.add_modifier(Modifier::REVERSED)
        } else {
            style
        }
    }

    /// A row on the selection bar: every span takes the bar's colours (keeping its
    /// bold or italics), so no span's own colour can vanish into the bar.
    pub fn select_line<'a>(&self, line: ratatui::text::Line<'a>) -> ratatui::text::Line<'a> {
        let bar = self.selected();
        let mut line = line.style(bar);
        for span in &mut line.spans {
            span.style = span.style.patch(bar);
        }
        line
    }

    pub fn status(&self) -> Style {
        self.bar("status_fg", "status_bg")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_theme_is_complete_and_uses_ansi_colours_only() {
        let theme = Theme::load("default", Path::new("/nonexistent")).unwrap();
        for field in FIELDS {
            let color = theme.color(field);
            assert!(
                !matches!(color, Color::Rgb(..) | Color::Indexed(_)),
                "{field} is {color:?}"
            );
        }
    }

    #[test]
    fn user_themes_inherit_and_bad_colours_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        std::fs::write(
            dir.path().join("themes/mine.toml"),
            "inherits = \"default\"\nborder = \"red\"\n",
        )
        .unwrap();
        let theme = Theme::load("mine", dir.path()).unwrap();
        assert_eq!(theme.color("border"), Color::Red);
        assert_eq!(theme.color("ok"), Color::Green);
        std::fs::write(
            dir.path().join("themes/mine.toml"),
            "border = \"blurple\"\n",
        )
        .unwrap();
        let err = Theme::load("mine", dir.path()).unwrap_err();
        assert!(
            err.contains("mine.toml") && err.contains("border") && err.contains("blurple"),
            "{err}"
        );
        std::fs::write(dir.path().join("themes/mine.toml"), "bordr = \"red\"\n").unwrap();
        assert!(
            Theme::load("mine", dir.path())
                .unwrap_err()
                .contains("'bordr' is not a theme colour")
        );
    }
}
