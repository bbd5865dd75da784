"""The category selectboxes' labels (ui.widgets.category_labels): a tree, and never two alike."""
from ui.widgets import category_labels


def test_category_labels_are_a_tree_and_never_two_alike():
    cats = ["测试/a", "测试/a/子类", "测试/b", "测试/b/子类", "网络"]
    label = category_labels(cats, "全部分类")
    assert label("") == "全部分类"
    assert label("网络") == "网络"
    assert label("测试/a") == "\u3000a"                       # indented by depth, the last name only
    assert label("测试/a/子类") == "\u3000\u3000子类（测试/a）"   # a name two branches share: its parent added
    assert len({label(c) for c in cats}) == len(cats)
