from task_runner.cli import run_main

run_main()
