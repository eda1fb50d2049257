//! What a global shortcut does, by the name the command line uses.

/// What a global shortcut does. The names are the command line's:
/// `sightline --action select-region`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ToggleSidebar,
    Rewrite,
    SelectRegion,
    PauseAmbient,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::ToggleSidebar,
        Action::Rewrite,
        Action::SelectRegion,
        Action::PauseAmbient,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::ToggleSidebar => "toggle-sidebar",
            Action::Rewrite => "rewrite",
            Action::SelectRegion => "select-region",
            Action::PauseAmbient => "pause-ambient",
        }
    }

    /// In words, for the desktop's keyboard settings.
    pub fn describe(self) -> &'static str {
        match self {
            Action::ToggleSidebar => "fold or unfold the sidebar",
            Action::Rewrite => "rewrite the selected text",
            Action::SelectRegion => "ask about a region of the screen",
            Action::PauseAmbient => "pause or resume ambient awareness",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == name)
    }

    /// Each action with its accelerator in `hotkeys`.
    pub fn bindings(hotkeys: &crate::settings::Hotkeys) -> [(Action, &str); 4] {
        [
            (Action::ToggleSidebar, hotkeys.toggle_sidebar.as_str()),
            (Action::Rewrite, hotkeys.rewrite.as_str()),
            (Action::SelectRegion, hotkeys.select_region.as_str()),
            (Action::PauseAmbient, hotkeys.pause_ambient.as_str()),
        ]
    }
}
