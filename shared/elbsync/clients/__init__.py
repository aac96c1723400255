"""One client per Huawei Cloud API elbsync calls: ELB members and check jobs (:mod:`.elb`),
Auto Scaling lifecycle hooks (:mod:`.autoscaling`), ECS interfaces (:mod:`.ecs`)."""
