from tui_tuner.cli import main

raise SystemExit(main())
