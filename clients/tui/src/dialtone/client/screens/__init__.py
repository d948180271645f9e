"""The screens of the TUI: sign-in forms, the main screen, and the help and verify overlays."""
