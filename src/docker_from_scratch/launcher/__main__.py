from docker_from_scratch.launcher.cli import main

main()
