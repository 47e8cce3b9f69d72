//! The skiff controller host: informers, work queues, the Rhai engine and the plugin loader.
