//! WebKitGTK settings that keep the sidebar light. A default WebKit view
//! keeps a browser-sized cache and a GPU compositor; the sidebar shows one
//! small page of text, so both are turned down (measured: see the
//! desktop benchmark in the README).

use tauri::WebviewWindow;

/// Environment for WebKit, set before the first view is created.
pub fn prepare_environment() {
    #[cfg(target_os = "linux")]
    {
        // Accelerated compositing and the DMA-BUF renderer each cost tens
        // of megabytes of buffers for a page that barely animates.
        for (name, value) in [
            ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
            ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
        ] {
            if std::env::var_os(name).is_none() {
                // Set before any thread that reads the environment starts.
                std::env::set_var(name, value);
            }
        }
    }
}

/// Per-view settings: document-viewer cache model, no page cache, no
/// hardware acceleration.
pub fn tune(window: &WebviewWindow) {
    #[cfg(target_os = "linux")]
    {
        let result = window.with_webview(|webview| {
            use webkit2gtk::{
                CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
            };
            let view = webview.inner();
            if let Some(context) = view.context() {
                context.set_cache_model(CacheModel::DocumentViewer);
            }
            if let Some(settings) = WebViewExt::settings(&view) {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
                settings.set_enable_page_cache(false);
            }
        });
        if let Err(error) = result {
            tracing::warn!(%error, "WebKit settings could not be applied");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}
