"""Where Mouthpiece's panels live: the 3D Viewport's sidebar (N), tab "Mouthpiece"."""


class SidebarPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mouthpiece"
